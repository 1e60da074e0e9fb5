"""The demuxing pipeline of the `gstreamer` decoder: an input, demuxed and parsed into encoded
access units that come out of an appsink, one `Gst.Sample` a packet, pulled by the decode thread.

    file:   filesrc ! parsebin ! [h264parse|h265parse ! caps] ! appsink
    rtsp:   rtspsrc (video pad) ! parsebin ! [h264parse|h265parse ! caps] ! appsink
    device: v4l2src ! caps (size, fps, format) ! parsebin ! appsink

H.264 and H.265 leave as whole access units in `avc` / `hvc1` stream format, so the caps'
`codec_data` is the clips' extradata. Other streams (audio, metadata) end in a fakesink. rtspsrc
adds each buffer's NTP time from the camera's RTCP sender reports (a reference timestamp meta,
`timestamp/x-ntp`): the first one gives `wallclock_origin`.
"""

from __future__ import annotations

import time
from typing import Any

from vigil.sources.decode._gst_caps import is_video
from vigil.sources.decode._gst_lib import Gst, bus_error, make, set_properties
from vigil.sources.decode.base import DecodeFailed, InputSpec, NoVideoStream, OpenFailed

__all__ = ["Demuxer", "stream_seconds"]

NTP_TO_UNIX_S = 2_208_988_800  # seconds from 1900 (NTP's epoch) to 1970
FILE_OPEN_TIMEOUT_S = 30.0  # a local file shows its first video caps long before this
RTSP_LATENCY_MS = 200  # rtspsrc's jitter buffer (2 s by default): a camera's frames, not a concert's
_FFMPEG_FORMATS = {"mjpeg": "image/jpeg", "yuyv422": "video/x-raw,format=YUY2", "nv12": "video/x-raw,format=NV12"}
_V4L2_DRIVERS = frozenset({"video4linux2", "v4l2"})
_PARSERS = {
    "video/x-h264": ("h264parse", "video/x-h264,stream-format=avc,alignment=au"),
    "video/x-h265": ("h265parse", "video/x-h265,stream-format=hvc1,alignment=au"),
}


def stream_seconds(timestamp: int, segment: Any) -> float:
    """A buffer time as seconds on the stream's clock (its segment's stream time, which starts
    at 0 where FFmpeg's does: an MP4's edit list, a camera's first packet); may be negative
    (a DTS before the first PTS)."""
    return (timestamp - segment.start + segment.time) / Gst.SECOND


class Demuxer:
    """One opened input (see the module docstring). `open` waits for the video stream's caps;
    `pull` gives the next packet's sample, None at the end; errors in GStreamer's words."""

    def __init__(self, spec: InputSpec) -> None:
        self.spec = spec
        self.pipeline = Gst.Pipeline.new("vigil-demux")
        self.sink = make("appsink", "packets", sync=False, emit_signals=False, enable_last_sample=False, drop=False)
        # Back-pressure: a full queue holds the demuxer (a file), or rtspsrc's jitter buffer (a camera).
        self.sink.set_property("max-buffers", 300 if spec.kind == "rtsp" else 64)
        self.kinds: set[str] = set()  # what the input holds: video, audio ...
        self.video: Any = None  # the pad that feeds the appsink, once linked
        self.no_more = False  # the source said every stream is known
        self.failed: str | None = None  # what went wrong in a streaming thread's callback
        self.wallclock_origin: float | None = None
        self._ntp = Gst.Caps.from_string("timestamp/x-ntp")
        try:
            self._build(spec)
        except (LookupError, ValueError, TypeError) as exc:
            self.close()
            raise OpenFailed(str(exc)) from exc

    def _build(self, spec: InputSpec) -> None:
        if spec.kind == "rtsp":
            source = make("rtspsrc", location=spec.location, latency=RTSP_LATENCY_MS, add_reference_timestamp_meta=True)
            Gst.util_set_object_arg(source, "protocols", spec.transport)
            if spec.open_timeout_s:
                source.set_property("tcp-timeout", int(spec.open_timeout_s * 1e6))  # microseconds
            if spec.read_timeout_s:
                source.set_property("timeout", int(spec.read_timeout_s * 1e6))  # UDP: no packet for that long
            set_properties(source, dict(spec.extra))
            self.pipeline.add(source)
            source.connect("pad-added", self._guarded(self._on_rtp_pad))
            source.connect("no-more-pads", self._on_no_more_pads)
            return
        if spec.kind == "file":
            chain = [make("filesrc", location=spec.location)]
        else:
            chain = self._device(spec)
        parser = make("parsebin")
        parser.connect("pad-added", self._guarded(self._on_stream))
        parser.connect("no-more-pads", self._on_no_more_pads)
        set_properties(chain[0], dict(spec.extra))
        for element in (*chain, parser):
            self.pipeline.add(element)
        for upstream, downstream in zip(chain, [*chain[1:], parser]):
            upstream.link(downstream)

    @staticmethod
    def _device(spec: InputSpec) -> list[Any]:
        if spec.driver not in (None, *_V4L2_DRIVERS):
            raise ValueError(
                f"driver {spec.driver!r} is FFmpeg's; the gstreamer decoder reads V4L2 capture devices only "
                "(driver video4linux2): choose decoder 'pyav' for this source"
            )
        if spec.input_format and spec.input_format not in _FFMPEG_FORMATS:
            known = ", ".join(_FFMPEG_FORMATS)
            raise ValueError(f"input_format {spec.input_format!r} is not one the gstreamer decoder knows ({known})")
        caps = _FFMPEG_FORMATS.get(spec.input_format or "", "video/x-raw")
        fields = [f"width={spec.size[0]},height={spec.size[1]}"] if spec.size else []
        if spec.fps:
            fields.append(f"framerate={round(spec.fps * 1000)}/1000")
        wanted = Gst.Caps.from_string(",".join([caps, *fields]))
        return [make("v4l2src", device=spec.location), make("capsfilter", caps=wanted)]

    def _guarded(self, callback: Any) -> Any:
        """`callback` for a signal of a streaming thread: a missing element becomes `failed`,
        which `open` reports, instead of a traceback on stderr."""

        def guarded(element: Any, pad: Any) -> None:
            try:
                callback(element, pad)
            except LookupError as exc:
                self.failed = str(exc)

        return guarded

    def _on_rtp_pad(self, source: Any, pad: Any) -> None:
        structure = (pad.get_current_caps() or pad.query_caps(None)).get_structure(0)
        media = structure.get_string("media") or "unknown"
        self.kinds.add(media)
        if media != "video" or self.video is not None:
            self._discard(pad)
            return
        parser = make("parsebin")
        parser.connect("pad-added", self._guarded(self._on_stream))
        self._add_linked(pad, [parser])
        pad.add_probe(Gst.PadProbeType.BUFFER, self._camera_clock)

    def _on_stream(self, parser: Any, pad: Any) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        name = caps.get_structure(0).get_name()
        video = is_video(caps)
        self.kinds.add("video" if video else name.partition("/")[0])
        if not video or self.video is not None:
            self._discard(pad)
            return
        chain = []
        if name in _PARSERS:  # unless parsebin's own parser gave that form already (an MP4's)
            element, wanted = _PARSERS[name]
            form = Gst.Caps.from_string(wanted)
            chain = [] if caps.is_fixed() and caps.is_subset(form) else [make(element), make("capsfilter", caps=form)]
        self._add_linked(pad, [*chain, self.sink])
        self.video = self.sink.get_static_pad("sink")

    def _on_no_more_pads(self, element: Any) -> None:
        self.no_more = True

    def _discard(self, pad: Any) -> None:
        self._add_linked(pad, [make("fakesink", sync=False, async_=False)])

    def _add_linked(self, pad: Any, chain: list[Any]) -> None:
        """Add `chain` to the pipeline, link `pad` into it, and start it (from its end)."""
        for element in chain:
            if element.get_parent() is None:
                self.pipeline.add(element)
        for upstream, downstream in zip(chain, chain[1:]):
            upstream.link(downstream)
        for element in reversed(chain):
            element.sync_state_with_parent()
        pad.link(chain[0].get_static_pad("sink"))

    def _camera_clock(self, pad: Any, info: Any) -> Any:
        """The first RTP buffer with the camera's NTP time: the UTC time of stream time 0."""
        buffer = info.get_buffer()
        meta = buffer.get_reference_timestamp_meta(self._ntp) if buffer is not None else None
        event = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
        if meta is None or event is None or buffer.pts == Gst.CLOCK_TIME_NONE:
            return Gst.PadProbeReturn.OK
        ntp_s = meta.timestamp / Gst.SECOND - NTP_TO_UNIX_S
        self.wallclock_origin = ntp_s - stream_seconds(buffer.pts, event.parse_segment())
        return Gst.PadProbeReturn.REMOVE

    def open(self) -> Any:
        """Start the pipeline and wait for the video stream's caps (OpenFailed, NoVideoStream)."""
        spec = self.spec
        timeout = spec.open_timeout_s or FILE_OPEN_TIMEOUT_S
        deadline = time.monotonic() + timeout
        self.pipeline.set_state(Gst.State.PLAYING)
        bus = self.pipeline.get_bus()
        while True:
            caps = self.video.get_current_caps() if self.video is not None else None
            if caps is not None:
                return caps
            message = bus.timed_pop_filtered(50 * Gst.MSECOND, Gst.MessageType.ERROR | Gst.MessageType.EOS)
            if message is not None and message.type == Gst.MessageType.ERROR:
                raise OpenFailed(self.failed or bus_error(message))
            if self.failed:
                raise OpenFailed(self.failed)
            ended = message is not None or self.no_more
            if ended and self.video is None and "video" not in self.kinds:
                raise NoVideoStream(", ".join(sorted(self.kinds)) or "no streams")
            if message is not None:
                raise OpenFailed("the input ended before its first video frame")
            if time.monotonic() > deadline:
                raise OpenFailed(f"no video stream within {timeout:g} s")

    def duration_ns(self) -> int | None:
        found, duration = self.pipeline.query_duration(Gst.Format.TIME)
        return duration if found and duration > 0 else None

    def pull(self, timeout_s: float | None) -> Any:
        """The next packet's sample; None at the end of the input. DecodeFailed on an error, or
        when nothing came for `timeout_s` (a stalled camera)."""
        deadline = time.monotonic() + timeout_s if timeout_s else None
        while True:
            sample = self.sink.emit("try-pull-sample", Gst.SECOND // 4)
            if sample is not None:
                return sample
            self.check()
            if self.sink.get_property("eos"):
                return None
            if deadline is not None and time.monotonic() > deadline:
                raise DecodeFailed(f"no video data for {timeout_s:g} s")

    def check(self) -> None:
        """DecodeFailed when the pipeline posted an error."""
        message = self.pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if message is not None:
            raise DecodeFailed(bus_error(message))

    def rewind(self) -> None:
        flags = Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT
        if not self.pipeline.seek_simple(Gst.Format.TIME, flags, 0):
            raise DecodeFailed("the input cannot seek back to its start")
        self.pipeline.get_state(10 * Gst.SECOND)

    def close(self) -> None:
        """Stop every streaming thread (NULL state) and let go of the input."""
        self.pipeline.set_state(Gst.State.NULL)
