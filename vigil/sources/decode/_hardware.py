"""What `auto` looks for: GStreamer's hardware video decoders, each tried on a probe.

In this order (docs/JETSON.md, "Decoding"), per codec, the first that works wins:

    nvv4l2decoder          Jetson (NVDEC through L4T's nvidia-l4t-gstreamer): H.264 and H.265
    nvh264dec, nvh265dec   desktop NVIDIA GPUs (NVDEC through gst-plugins-bad's nvcodec)
    vah264dec, vah265dec   Intel and AMD GPUs (VA-API through gst-plugins-bad's va)

An element works when GStreamer's registry has it AND it decodes that codec's probe (two small
frames, `_probe_streams`) pushed through `appsrc ! PARSER ! ELEMENT ! fakesink` within
`PROBE_TIMEOUT_S`: a plugin is often registered where it cannot run (no device node, no driver,
a codec the chip lacks), and only decoding tells. `hardware()` looks once per process (the
answer is kept) and only when asked, never at import; it may take a second or two, so the daemon
asks it on a worker thread. Without PyGObject or GStreamer it answers at once, saying so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["CANDIDATES", "CODEC_NAMES", "PROBE_TIMEOUT_S", "Candidate", "Hardware", "Probe", "Unavailable", "find", "hardware"]

PROBE_TIMEOUT_S = 5.0
CODEC_NAMES = {"h264": "H.264", "hevc": "H.265"}  # by StreamInfo.codec (FFmpeg's names)
_NO_ANSWER = "no answer within"
_PARSERS = {"h264": ("h264parse", "video/x-h264"), "hevc": ("h265parse", "video/x-h265")}


@dataclass(frozen=True)
class Candidate:
    """A hardware decoder element, the codecs it decodes, and where it comes from."""

    element: str
    codecs: tuple[str, ...]
    where: str


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("nvv4l2decoder", ("h264", "hevc"), "Jetson: L4T's nvidia-l4t-gstreamer"),
    Candidate("nvh264dec", ("h264",), "desktop NVIDIA: gst-plugins-bad's nvcodec"),
    Candidate("nvh265dec", ("hevc",), "desktop NVIDIA: gst-plugins-bad's nvcodec"),
    Candidate("vah264dec", ("h264",), "Intel/AMD VA-API: gst-plugins-bad's va"),
    Candidate("vah265dec", ("hevc",), "Intel/AMD VA-API: gst-plugins-bad's va"),
)


class Unavailable(Exception):
    """GStreamer cannot be asked at all (PyGObject or GStreamer missing); `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Probe(Protocol):
    """What `find` asks of GStreamer (the real one: `_GStreamer`; tests give a fake)."""

    def has(self, element: str) -> bool:
        """Whether the registry has the element."""
        ...

    def decodes(self, element: str, codec: str) -> str | None:
        """None when `element` decoded `codec`'s probe; else why not, in a few words."""
        ...


@dataclass(frozen=True)
class Hardware:
    """What `find` found: the element to use per codec (empty: none works), and why, in words."""

    elements: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""


def find(open_probe: Callable[[], Probe]) -> Hardware:
    """The hardware decoder of each codec that exists and decodes its probe, in `CANDIDATES`'
    order, and the reason in plain words (what was found, what failed its probe, what is missing)."""
    try:
        probe = open_probe()
    except Unavailable as exc:
        return Hardware({}, exc.reason)
    present = [c for c in CANDIDATES if probe.has(c.element)]
    if not present:
        return Hardware({}, f"no hardware decoder element (looked for {_names(CANDIDATES)})")
    chosen: dict[str, str] = {}
    failed: list[str] = []
    hung: set[str] = set()  # elements that did not answer in time: not asked again
    for codec, name in CODEC_NAMES.items():
        for candidate in (c for c in present if codec in c.codecs and c.element not in hung):
            why = probe.decodes(candidate.element, codec)
            if why is None:
                chosen[codec] = candidate.element
                break
            failed.append(f"{candidate.element} found but failed the {name} probe ({why})")
            if why.startswith(_NO_ANSWER):
                hung.add(candidate.element)
    parts = [*_decoded(chosen), *failed]
    if not chosen:
        absent = [c for c in CANDIDATES if c not in present]
        parts.append("no other hardware decoder element" + (f" (looked for {_names(absent)})" if absent else ""))
    for codec, name in CODEC_NAMES.items():
        if chosen and codec not in chosen:
            looked = _names([c for c in CANDIDATES if codec in c.codecs])
            parts.append(f"no working hardware {name} decoder (looked for {looked}): GStreamer's own choice for {name}")
    return Hardware(chosen, "; ".join(parts))


def _names(candidates: Any) -> str:
    return ", ".join(c.element for c in candidates)


def _decoded(chosen: Mapping[str, str]) -> list[str]:
    """ "E found and decoded the H.264 probe", one phrase per element (both codecs at once)."""
    phrases = []
    for element in dict.fromkeys(chosen.values()):
        codecs = [CODEC_NAMES[codec] for codec, used in chosen.items() if used == element]
        probes = f"the {' and '.join(codecs)} probe" + ("s" if len(codecs) > 1 else "")
        phrases.append(f"{element} found and decoded {probes}")
    return phrases


_lock = threading.Lock()
_found: Hardware | None = None


def hardware() -> Hardware:
    """`find` against this machine's GStreamer, once per process (kept; thread-safe)."""
    global _found
    with _lock:
        if _found is None:
            _found = find(_GStreamer)
        return _found


class _GStreamer:
    """The real `Probe`: GStreamer through PyGObject, imported here only."""

    def __init__(self) -> None:
        try:
            import gi
        except ImportError as exc:
            raise Unavailable(
                "PyGObject is not installed (the gstreamer extra: pip install 'vigil-analytics[gstreamer]'), "
                "so no GStreamer decoder was looked for"
            ) from exc
        try:
            gi.require_version("Gst", "1.0")
            from gi.repository import Gst
        except (ImportError, ValueError) as exc:
            raise Unavailable(f"GStreamer is not installed ({exc}; Debian: gir1.2-gstreamer-1.0)") from exc
        try:
            ok = bool(Gst.init_check(None)[0])
        except Exception as exc:  # GLib.Error or anything the binding raises: GStreamer is unusable
            raise Unavailable(f"GStreamer could not start ({exc})") from exc
        if not ok:
            raise Unavailable("GStreamer could not start")
        self._gst = Gst

    def has(self, element: str) -> bool:
        return self._gst.ElementFactory.find(element) is not None

    def decodes(self, element: str, codec: str) -> str | None:
        """Decode the probe on a thread of its own, waited for `PROBE_TIMEOUT_S` at most (a
        hung driver leaves that thread behind, never the caller)."""
        answer: list[str | None] = []
        thread = threading.Thread(
            target=lambda: answer.append(_decode_probe(self._gst, element, codec)), name=f"probe-{element}", daemon=True
        )
        thread.start()
        thread.join(PROBE_TIMEOUT_S + 2.0)
        return answer[0] if answer else f"{_NO_ANSWER} {PROBE_TIMEOUT_S:g} s"


def _decode_probe(Gst: Any, element: str, codec: str) -> str | None:
    from vigil.sources.decode._probe_streams import probe_stream

    parser, caps = _PARSERS[codec]
    try:
        pipeline = Gst.parse_launch(
            f"appsrc name=src caps={caps},stream-format=byte-stream ! {parser} ! {element} "
            "! fakesink name=sink sync=false signal-handoffs=true"
        )
    except Exception as exc:  # noqa: BLE001 - GLib.Error: the element cannot be made
        return f"cannot be made: {exc}"
    pictures: list[str] = []  # the media type of each buffer reaching the sink

    def arrived(_sink: Any, _buffer: Any, pad: Any) -> None:
        caps = pad.get_current_caps()
        pictures.append(caps.get_structure(0).get_name() if caps is not None else "")

    pipeline.get_by_name("sink").connect("handoff", arrived)
    try:
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            message = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)  # the element's own words, if any
            return "could not start" + (f": {message.parse_error()[0].message}" if message is not None else "")
        source = pipeline.get_by_name("src")
        source.emit("push-buffer", Gst.Buffer.new_wrapped(probe_stream(codec)))
        source.emit("end-of-stream")
        kinds = Gst.MessageType.ERROR | Gst.MessageType.EOS
        message = pipeline.get_bus().timed_pop_filtered(int(PROBE_TIMEOUT_S * Gst.SECOND), kinds)
        if message is None:
            return f"{_NO_ANSWER} {PROBE_TIMEOUT_S:g} s"
        if message.type == Gst.MessageType.ERROR:
            error, _ = message.parse_error()
            return f"error: {error.message}"
        if not any(kind == "video/x-raw" for kind in pictures):
            return "it returned no picture"
        return None
    finally:
        pipeline.set_state(Gst.State.NULL)
