"""`PyAVDecoder`: FFmpeg through PyAV, the decoder every source had before there was a choice.

It demuxes packets itself so that sampling happens before decoding: a packet the plan does not
`take` (a non-key frame when key frames are enough) never reaches the decoder, and the plan's
`skip_nonref` hint becomes the codec's `skip_frame = NONREF`. Every input is opened with FFmpeg's
format and protocol whitelists (`_whitelists`), so that no name can make FFmpeg read something
else than a video. Only this module and the clips' MP4 writer touch PyAV objects.

With `InputSpec.output_size`, a picture is scaled by FFmpeg's swscale in the same call as its
conversion to BGR (`VideoFrame.reformat(width, height, format="bgr24")`, area averaging: the
right filter for shrinking a camera's picture to a model's size, and cheaper than a full-size
BGR picture resized afterwards); its `luma()` is then the luma at that size too (one swscale
call to grey, only when a gate asks), so a gate sees the picture the pipeline gets.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import numpy as np

from vigil.packet import Packet, StreamParams
from vigil.sources.decode._whitelists import FILE_FORMATS, FILE_PROTOCOLS, RTSP_PROTOCOLS
from vigil.sources.decode.base import (
    DecodeFailed,
    DecodePlan,
    InputSpec,
    NoVideoStream,
    OpenFailed,
    PacketSink,
    StreamInfo,
)

__all__ = ["PyAVDecoder", "neutral_packet", "stream_params"]

_SCALER = "AREA"  # swscale's area averaging (SWS_AREA): no aliasing when shrinking, bilinear when growing
_LUMA_FIRST = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"})


class PyAVDecoder:
    name = "pyav"

    def open(self, spec: InputSpec) -> _PyAVInput:
        try:
            container = av.open(spec.location, **_open_arguments(spec))
        except av.FFmpegError as exc:
            raise OpenFailed(str(exc.strerror or exc)) from exc
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
            container.close()
            raise NoVideoStream(kinds)
        return _PyAVInput(container, spec.threads, spec.output_size)


def _open_arguments(spec: InputSpec) -> dict[str, Any]:
    """`av.open`'s arguments for `spec`: the demuxer and what it may open beneath it."""
    if spec.kind == "file":
        # An absolute path: a name like `concat:a|b` or `subfile:...` stays a file name, never a protocol.
        return {"mode": "r", "options": {"format_whitelist": FILE_FORMATS, "protocol_whitelist": FILE_PROTOCOLS, **spec.extra}}
    if spec.kind == "rtsp":
        # The RTSP demuxer only, opening only network protocols beneath it: never a file.
        # fpsprobesize 0: opening does not wait for ~20 frames to guess the frame rate (2.4 s of a
        # 10 fps camera, 1 s of a 30 fps one; 0.3-0.4 s without), the rate read all the same.
        options = {"rtsp_transport": spec.transport, "protocol_whitelist": RTSP_PROTOCOLS, "fpsprobesize": "0", **spec.extra}
        return {"format": "rtsp", "options": options, "timeout": (spec.open_timeout_s, spec.read_timeout_s)}
    driver = spec.driver or "video4linux2"
    options = {}
    if spec.size:
        options["video_size"] = f"{spec.size[0]}x{spec.size[1]}"
    if spec.fps:
        options["framerate"] = f"{spec.fps:g}"
    if spec.input_format:
        options["input_format"] = spec.input_format
    # The driver is the one demuxer allowed: nothing probed from the device decides another.
    options.update({"format_whitelist": driver, "protocol_whitelist": FILE_PROTOCOLS, **spec.extra})
    return {"format": driver, "options": options}


class _PyAVInput:
    def __init__(self, container: Any, threads: int, output_size: tuple[int, int] | None = None) -> None:
        self._container = container
        self._stream = stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads  # 0: FFmpeg picks (one per core)
        self._skipping = False  # the codec's skip_frame is NONREF
        self.info = _info(container)
        self._size = output_size  # None: pictures keep the stream's size

    def stream_params(self) -> StreamParams:
        return stream_params(self._stream)

    def frames(self, plan: DecodePlan, packets: PacketSink | None, pts_offset: float) -> Iterator[_Picture]:
        stream = self._stream
        context = stream.codec_context
        try:
            for packet in self._container.demux(stream):
                key, size = packet.is_keyframe, packet.size
                base = packet.time_base
                seconds = float(packet.pts * base) if packet.pts is not None and base is not None else None
                taken = plan.take(key, seconds, size)
                if packets is not None and (copied := neutral_packet(packet, pts_offset)) is not None:
                    packets(copied)
                if not taken:
                    continue
                if plan.skip_nonref is not self._skipping:
                    self._skipping = plan.skip_nonref
                    context.skip_frame = "NONREF" if self._skipping else "DEFAULT"
                out = 0
                for frame in packet.decode():
                    out += 1
                    yield _Picture(frame, self._size)
                # Packets the decoder took but has not returned yet: a few are in its pipeline
                # (threads, reordering) until the end, when the count is exact.
                plan.decoded(size, out, max(context.thread_count, 1) + 2 if size else 0)
        except av.FFmpegError as exc:
            raise DecodeFailed(str(exc.strerror or exc)) from exc

    def rewind(self) -> None:
        self._container.seek(0)
        self._stream.codec_context.flush_buffers()

    @property
    def wallclock_origin(self) -> float | None:
        start_us = getattr(self._container, "start_time_realtime", None)
        return start_us / 1e6 if start_us else None

    def close(self) -> None:
        self._container.close()


class _Picture:
    """A PyAV `VideoFrame` as the source sees it (`vigil.sources.decode.base.Picture`), scaled to
    `size` (width, height) when given and not already its size."""

    __slots__ = ("_frame", "_size", "_grey")

    def __init__(self, frame: Any, size: tuple[int, int] | None = None) -> None:
        self._frame = frame
        self._size = size if size is not None and size != (frame.width, frame.height) else None
        self._grey: np.ndarray | None = None

    @property
    def pts(self) -> float | None:
        return self._frame.time  # pts x time_base as a float, without Fraction arithmetic

    @property
    def key(self) -> bool:
        return bool(self._frame.key_frame)

    @property
    def width(self) -> int:
        return self._size[0] if self._size else int(self._frame.width)

    @property
    def height(self) -> int:
        return self._size[1] if self._size else int(self._frame.height)

    def to_bgr(self) -> np.ndarray:
        """HxWx3 BGR at the picture's size: one swscale call (scaling and conversion together)."""
        return self._convert("bgr24")

    def luma(self) -> np.ndarray | None:
        """The luma plane itself for YUV pictures (a view, no copy), or when scaled its values at
        the scaled size (one swscale call, kept); None for pictures that are not YUV."""
        frame = self._frame
        if frame.format.name not in _LUMA_FIRST:
            return None
        if self._size is not None:
            if self._grey is None:
                self._grey = self._convert("gray")
            return self._grey
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : plane.width]

    def _convert(self, pixels: str) -> np.ndarray:
        try:
            if self._size is None:
                return self._frame.to_ndarray(format=pixels)
            width, height = self._size
            # Grey: the luma values as they are (full range both sides: no range expansion), as unscaled.
            ranges = {"src_color_range": "JPEG", "dst_color_range": "JPEG"} if pixels == "gray" else {}
            return self._frame.to_ndarray(width=width, height=height, format=pixels, interpolation=_SCALER, **ranges)
        except av.FFmpegError as exc:
            raise DecodeFailed(str(exc.strerror or exc)) from exc


def _info(container: Any) -> StreamInfo:
    stream = container.streams.video[0]
    context = stream.codec_context
    rate = float(stream.average_rate) if stream.average_rate else None
    if stream.duration and stream.time_base:
        duration: float | None = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = None
    return StreamInfo(
        context.name,
        context.width,
        context.height,
        Fraction(stream.time_base or Fraction(1, 90_000)),
        rate,
        int(stream.frames) or None,
        duration,
    )


def stream_params(stream: Any) -> StreamParams:
    """A PyAV video stream's codec parameters, copied into the neutral `StreamParams`."""
    context = stream.codec_context
    aspect = context.sample_aspect_ratio
    return StreamParams(
        codec=context.name,
        width=context.width,
        height=context.height,
        time_base=Fraction(stream.time_base or Fraction(1, 90_000)),
        pix_fmt=context.pix_fmt,
        extradata=bytes(context.extradata) if context.extradata else None,
        fps=float(stream.average_rate) if stream.average_rate else None,
        profile=context.profile,
        level=context.level if context.level and context.level > 0 else None,
        color_range=int(context.color_range),
        color_primaries=int(context.color_primaries),
        color_trc=int(context.color_trc),
        colorspace=int(context.colorspace),
        sample_aspect_ratio=Fraction(aspect) if aspect else None,
        bit_rate=int(context.bit_rate or 0),
    )


def neutral_packet(packet: Any, pts_offset: float = 0.0) -> Packet | None:
    """A demuxed PyAV packet copied into the neutral `Packet` (times in seconds plus
    `pts_offset`); None for one without a time or bytes (a flush packet)."""
    base = packet.time_base
    if packet.pts is None or base is None or not packet.size:
        return None
    pts = float(packet.pts * base) + pts_offset
    dts = float(packet.dts * base) + pts_offset if packet.dts is not None else pts
    duration = float(packet.duration * base) if packet.duration else 0.0
    return Packet(bytes(packet), pts, dts, bool(packet.is_keyframe), duration)
