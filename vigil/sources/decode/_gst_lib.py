"""GStreamer through PyGObject, for the `gstreamer` decoder only: imported when that decoder is
chosen (`vigil.sources.decode.auto`), never with vigil. A missing binding is an ImportError that
says what to install; `init` starts GStreamer once per process, on first use."""

from __future__ import annotations

import threading
from typing import Any

from vigil.sources.decode.base import DecodeFailed

try:
    import gi

    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
except (ImportError, ValueError) as exc:  # ValueError: PyGObject is there, GStreamer's typelib is not
    raise ImportError(
        f"the gstreamer decoder needs PyGObject and GStreamer's introspection data ({exc}); install the "
        "'gstreamer' extra (pip install 'vigil-analytics[gstreamer]', after apt-get install libgirepository1.0-dev "
        "libcairo2-dev gir1.2-gstreamer-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
        "gstreamer1.0-plugins-bad gstreamer1.0-libav on Debian)"
    ) from exc

__all__ = ["Gst", "bus_error", "copy_out", "init", "make", "set_properties"]

_started = threading.Lock()


def init() -> None:
    """Start GStreamer (loads the plugin registry); once, whichever thread asks first."""
    with _started:
        if not Gst.is_initialized():
            Gst.init(None)


def make(factory: str, name: str | None = None, **properties: Any) -> Any:
    """A new element of `factory` with `properties` set (underscores for dashes, `async_` for
    `async`); LookupError
    names a factory this GStreamer does not have (its plugin package is missing)."""
    element = Gst.ElementFactory.make(factory, name)
    if element is None:
        raise LookupError(f"GStreamer element {factory!r} is not installed")
    for key, value in properties.items():
        element.set_property(key.rstrip("_").replace("_", "-"), value)
    return element


def set_properties(element: Any, options: dict[str, str]) -> None:
    """Decoder-specific options (`InputSpec.extra`) as the element's properties, from strings as
    gst-launch takes them; a property the element does not have is a ValueError naming it."""
    for key, value in options.items():
        if element.find_property(key) is None:
            raise ValueError(f"{element.get_factory().get_name()} has no property {key!r}")
        Gst.util_set_object_arg(element, key, value)


def bus_error(message: Any) -> str:
    """An ERROR message in GStreamer's own words: its text and, when the detail says more than
    where in GStreamer it happened, the detail's last line ("Could not open resource for reading
    and writing. Failed to connect."; "Unauthorized (401)")."""
    error, debug = message.parse_error()
    reason = error.message.strip()
    lines = [line.strip() for line in (debug or "").strip().splitlines() if line.strip()]
    if len(lines) < 2:  # only the source location and element path
        return reason
    detail = lines[-1]
    if detail.lower().startswith(reason.rstrip(".").lower()):
        return detail
    return f"{reason} {detail}"


def copy_out(buffer: Any) -> bytes:
    """A buffer's bytes, copied once (by mapping it: `extract_dup` copies twice)."""
    found, mapped = buffer.map(Gst.MapFlags.READ)
    if not found:
        raise DecodeFailed("GStreamer could not map a buffer's memory")
    try:
        return bytes(mapped.data)
    finally:
        buffer.unmap(mapped)
