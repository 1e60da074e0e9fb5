"""`GStreamerDecoder`: the system's GStreamer through PyGObject, beside PyAV.

Two pipelines per input, both driven by the decode thread, so the protocol's sampling works as
with PyAV: the demuxing one (`_gst_demux`: filesrc, rtspsrc or v4l2src, parsed into access units
in an appsink) gives every packet, which goes to the clips as a neutral `Packet`; the packets the
source's plan takes are pushed into the decoding one (`_gst_decode`: appsrc, the decoder element,
scaling to `InputSpec.output_size`, an appsink of I420 pictures, converted to BGR on demand). `elements` names
the decoder element per codec (FFmpeg's codec names: {"h264": "nvv4l2decoder"}); a codec not in
it gets GStreamer's highest-ranked decoder (gst-libav's `avdec_h264` on Debian: FFmpeg's own
decoder). Capture times: rtspsrc's NTP time from the camera's RTCP sender reports.
`close` sets both pipelines to NULL: no streaming thread outlives the input.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from vigil.packet import Packet, StreamParams
from vigil.sources.decode._gst_caps import stream_info, stream_params
from vigil.sources.decode._gst_decode import DecodeBranch, GstPicture
from vigil.sources.decode._gst_demux import Demuxer, stream_seconds
from vigil.sources.decode._gst_lib import Gst, init
from vigil.sources.decode.base import DecodePlan, InputSpec, OpenFailed, PacketSink, StreamInfo

__all__ = ["GStreamerDecoder", "GStreamerInput"]


class GStreamerDecoder:
    name = "gstreamer"

    def __init__(self, elements: Mapping[str, str] | None = None) -> None:
        self.elements = dict(elements or {})
        init()

    def open(self, spec: InputSpec) -> GStreamerInput:
        demuxer = Demuxer(spec)
        try:
            caps = demuxer.open()
            info = stream_info(caps, demuxer.duration_ns())
            branch = DecodeBranch(caps, info.codec, self.elements, spec.threads, spec.output_size)
        except LookupError as exc:
            demuxer.close()
            raise OpenFailed(str(exc)) from exc
        except BaseException:
            demuxer.close()
            raise
        return GStreamerInput(spec, demuxer, branch, caps, info)


class GStreamerInput:
    """One opened input (`vigil.sources.decode.base.DecoderInput`); `decoder_element` is the
    GStreamer element that decodes it."""

    def __init__(self, spec: InputSpec, demuxer: Demuxer, branch: DecodeBranch, caps: Any, info: StreamInfo) -> None:
        self.info = info
        self.decoder_element = branch.element or "none (raw video)"
        self._read_timeout = spec.read_timeout_s
        self._demuxer, self._branch, self._caps = demuxer, branch, caps

    def stream_params(self) -> StreamParams:
        return stream_params(self._caps)

    def frames(self, plan: DecodePlan, packets: PacketSink | None, pts_offset: float) -> Iterator[GstPicture]:
        branch = self._branch
        while (sample := self._demuxer.pull(self._read_timeout)) is not None:
            buffer, segment = sample.get_buffer(), sample.get_segment()
            caps = sample.get_caps()
            if not caps.is_equal(self._caps):
                self._caps = caps
                branch.set_caps(caps)
            key = not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT)
            size = buffer.get_size()
            pts = stream_seconds(buffer.pts, segment) if buffer.pts != Gst.CLOCK_TIME_NONE else None
            taken = plan.take(key, pts, size)
            if packets is not None and pts is not None and size:
                packets(_packet(buffer, segment, pts, key, pts_offset))
            if not taken:
                continue
            branch.skip_nonref(plan.skip_nonref)
            branch.offset_ns = segment.time - segment.start
            out = 0
            for picture in branch.feed(buffer, key):
                out += 1
                yield picture
            plan.decoded(size, out, branch.in_flight)
        out = 0
        for picture in branch.finish():
            out += 1
            yield picture
        plan.decoded(0, out, 0)

    def rewind(self) -> None:
        self._demuxer.rewind()
        self._branch.reset()

    @property
    def wallclock_origin(self) -> float | None:
        return self._demuxer.wallclock_origin

    def close(self) -> None:
        self._branch.close()
        self._demuxer.close()


def _packet(buffer: Any, segment: Any, pts: float, key: bool, pts_offset: float) -> Packet:
    """A demuxed buffer copied into the neutral `Packet` (times in stream seconds plus `pts_offset`)."""
    dts = stream_seconds(buffer.dts, segment) if buffer.dts != Gst.CLOCK_TIME_NONE else pts
    duration = buffer.duration / Gst.SECOND if buffer.duration != Gst.CLOCK_TIME_NONE else 0.0
    return Packet(buffer.extract_dup(0, buffer.get_size()), pts + pts_offset, dts + pts_offset, key, duration)
