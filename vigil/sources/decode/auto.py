"""`choose`: the one place that decides which decoder a source gets, and says why.

    choose("pyav")      PyAV (FFmpeg on the CPU), "asked for by name"
    choose("gstreamer") GStreamer, its own choice of decoder per stream
    choose("auto")      a hardware decoder through GStreamer when one exists here and decodes a
                        probe (`_hardware`: nvv4l2decoder, nvh264dec/nvh265dec, vah264dec/vah265dec,
                        in that order), else PyAV

`auto`'s answer is `GStreamerDecoder(elements={"h264": ..., "hevc": ...})` with the element found
per codec (a codec without one: GStreamer's own choice), or PyAV; `Choice.reason` says what was
found or missing in plain words, for `vigil check` and `/api/v1/streams`. A capture device
(a webcam) is read through FFmpeg: `auto` gives it PyAV. The hardware is looked for once per
process, when first asked (`probe_hardware`, which the daemon calls on a worker thread before it
makes its cameras on the event loop); without PyGObject or GStreamer `auto` answers PyAV at once.
A decoder's module is imported only when it is chosen: a new decoder is one module beside
`pyav.py` and one line in `DECODERS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from vigil.errors import ConfigError, MissingDependencyError
from vigil.sources.decode._hardware import hardware
from vigil.sources.decode.base import Decoder, InputKind

__all__ = ["AUTO", "DECODERS", "Choice", "choose", "fallback", "probe_hardware"]

AUTO = "auto"
# name -> "module:class", imported when chosen (vigil.config.decoding.DECODER_NAMES lists the same)
DECODERS: dict[str, str] = {
    "pyav": "vigil.sources.decode.pyav:PyAVDecoder",
    "gstreamer": "vigil.sources.decode.gstreamer:GStreamerDecoder",
}
_HARDWARE_DECODER = "gstreamer"  # the decoder auto gives the hardware elements it found


@dataclass(frozen=True)
class Choice:
    """The decoder a source got, its name, and why (asked for by name, or what `auto` found)."""

    decoder: Decoder
    name: str
    reason: str
    hardware: bool = False  # auto chose a hardware decoder: a camera it cannot decode falls back to PyAV


def choose(name: str | Decoder = AUTO, *, input_kind: InputKind | None = None) -> Choice:
    """The decoder called `name` (`auto`: the best one here for an input of `input_kind`), or a
    `Decoder` given as it is (a test's, a plugin's). An unknown name is a `ConfigError` that lists
    the known ones."""
    if not isinstance(name, str):
        return Choice(name, name.name, "given")
    if name == AUTO:
        return _auto(input_kind)
    if name not in DECODERS:
        known = ", ".join([AUTO, *DECODERS])
        raise ConfigError(f"decoder {name!r} is unknown; choose one of: {known}")
    return Choice(_load(name), name, "asked for by name")


def probe_hardware() -> str:
    """Look for hardware decoders now, if not done yet in this process (blocking, a second or
    two at most: call it on a worker thread, `asyncio.to_thread(probe_hardware)`); what was found,
    in words."""
    return hardware().reason


def _auto(input_kind: InputKind | None) -> Choice:
    if input_kind == "device":
        return Choice(_load("pyav"), "pyav", "auto: a capture device is read through FFmpeg; PyAV")
    found = hardware()
    if not found.elements:
        return Choice(_load("pyav"), "pyav", f"auto: {found.reason}; PyAV")
    if _HARDWARE_DECODER not in DECODERS:
        return Choice(_load("pyav"), "pyav", f"auto: {found.reason}, but vigil has no GStreamer decoder; PyAV")
    try:
        decoder = _load(_HARDWARE_DECODER, elements=dict(found.elements))
    except MissingDependencyError as exc:
        why = exc.__cause__ or exc
        return Choice(_load("pyav"), "pyav", f"auto: {found.reason}, but the GStreamer decoder cannot be loaded ({why}); PyAV")
    return Choice(decoder, _HARDWARE_DECODER, f"auto: {found.reason}", hardware=True)


def fallback(choice: Choice, why: str) -> Choice:
    """PyAV, for a camera that the hardware decoder `auto` chose for it could not decode (`why`)."""
    return Choice(_load("pyav"), "pyav", f"auto: {why}; fell back to PyAV (was: {choice.reason})")


def _load(name: str, **options: Any) -> Decoder:
    module_name, _, attribute = DECODERS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"decoder {name!r} cannot be loaded ({exc}); install what it needs, or choose decoder 'auto'"
        ) from exc
    decoder: Decoder = getattr(module, attribute)(**options)
    return decoder
