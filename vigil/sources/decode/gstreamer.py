"""`GStreamerDecoder`: the system's GStreamer through PyGObject, beside PyAV.

Two pipelines per input, both driven by the decode thread, so the protocol's sampling works as
with PyAV: the demuxing one (`_gst_demux`: filesrc, rtspsrc or v4l2src, parsed into access units
in an appsink) gives every packet, which goes to the clips as a neutral `Packet`; the packets the
source's plan takes are pushed into the decoding one (`_gst_decode`: appsrc, the decoder element,
an appsink of I420 pictures), and a picture is scaled to `InputSpec.output_size` and converted to
BGR when the source keeps it (`_gst_picture`). `elements` names the decoder element per codec
(FFmpeg's codec names: {"h264": "nvv4l2decoder"}); a codec not in it gets GStreamer's
highest-ranked decoder (gst-libav's `avdec_h264` on Debian: FFmpeg's own decoder). Non-reference
pictures are left undecoded when the plan says so, read from each packet's first slice header.
Capture times: rtspsrc's NTP time from the camera's RTCP sender reports. `close` sets both
pipelines to NULL: no streaming thread outlives the input.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from typing import Any

from vigil.packet import Packet, StreamParams
from vigil.sources.decode._gst_caps import nal_length_size, non_reference, stream_info, stream_params
from vigil.sources.decode._gst_decode import DecodeBranch, GstPicture
from vigil.sources.decode._gst_demux import Demuxer, stream_seconds
from vigil.sources.decode._gst_lib import Gst, copy_out, init
from vigil.sources.decode.base import DecodePlan, InputSpec, OpenFailed, PacketSink, StreamInfo

__all__ = ["DecodingTimes", "GStreamerDecoder", "GStreamerInput"]

REORDER_DEPTH = 4  # pictures a camera's B-frames reorder at most (x264's B-pyramid: 2)


class GStreamerDecoder:
    name = "gstreamer"

    def __init__(self, elements: Mapping[str, str] | None = None) -> None:
        self.elements = dict(elements or {})

    def open(self, spec: InputSpec) -> GStreamerInput:
        init()  # on the decode thread: the first use in a process may scan the plugin registry
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
        self._length_size = nal_length_size(caps)
        self._dts = DecodingTimes(1.0 / (info.fps or 30.0))

    def stream_params(self) -> StreamParams:
        return stream_params(self._caps)

    def frames(self, plan: DecodePlan, packets: PacketSink | None, pts_offset: float) -> Iterator[GstPicture]:
        branch = self._branch
        while (sample := self._demuxer.pull(self._read_timeout)) is not None:
            buffer, segment = sample.get_buffer(), sample.get_segment()
            self._follow_caps(sample.get_caps())
            key = not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT)
            size = buffer.get_size()
            pts = stream_seconds(buffer.pts, segment) if buffer.pts != Gst.CLOCK_TIME_NONE else None
            taken = plan.take(key, pts, size)
            data = b""
            if packets is not None and pts is not None and size:
                data = copy_out(buffer)
                dts = stream_seconds(buffer.dts, segment) if buffer.dts != Gst.CLOCK_TIME_NONE else self._dts(pts)
                duration = buffer.duration / Gst.SECOND if buffer.duration != Gst.CLOCK_TIME_NONE else 0.0
                packets(Packet(data, pts + pts_offset, dts + pts_offset, key, duration))
            if not taken:
                continue
            if plan.skip_nonref and not key and self._length_size:  # as FFmpeg's skip_frame NONREF
                if non_reference(data or copy_out(buffer), self.info.codec, self._length_size):
                    plan.decoded(size, 0, branch.in_flight)
                    continue
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

    def _follow_caps(self, caps: Any) -> None:
        """New caps mid-stream (a camera's new resolution or parameter sets): the decoder gets them."""
        if not caps.is_equal(self._caps):
            self._caps = caps
            self._length_size = nal_length_size(caps)
            self._branch.set_caps(caps)

    def rewind(self) -> None:
        self._demuxer.rewind()
        self._branch.reset()

    @property
    def wallclock_origin(self) -> float | None:
        return self._demuxer.wallclock_origin

    def close(self) -> None:
        self._branch.close()
        self._demuxer.close()


class DecodingTimes:
    """Decoding times for packets that come without them (RTP carries presentation times only),
    as FFmpeg guesses them: each packet's is the smallest presentation time of the last
    `REORDER_DEPTH` + 1 packets not used yet, so they rise and never pass the presentation time
    when pictures are reordered at most that deep; the first ones count back a frame apart."""

    def __init__(self, frame_s: float) -> None:
        self.frame_s = frame_s
        self.pending: list[float] = []
        self.first: float | None = None
        self.given = 0

    def __call__(self, pts: float) -> float:
        heapq.heappush(self.pending, pts)
        if len(self.pending) > REORDER_DEPTH:
            return heapq.heappop(self.pending)
        if self.first is None:
            self.first = pts
        self.given += 1
        return self.first - (REORDER_DEPTH + 1 - self.given) * self.frame_s
