"""One clip being written: neutral packets (`vigil.packet`) remuxed, never decoded, into a fragmented MP4
with PyAV (the one place in the clips that uses it)."""

from __future__ import annotations

import io
import logging
import os
from contextlib import suppress
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vigil.packet import Packet, StreamParams
from vigil.sinks.files import open_output

__all__ = ["MUX_ERRORS", "ClipFile", "StreamTemplate", "partial_path"]

log = logging.getLogger(__name__)

TICKS_PER_SECOND = 90_000  # MPEG's clock, as the video sink's
TIME_BASE = Fraction(1, TICKS_PER_SECOND)
PARTIAL = ".partial"
# As the video sink's segments (vigil/sinks/video.py): a fragment a second handed to the OS as
# it is cut, so a crash leaves a `.mp4.partial` that plays up to its last second or so.
_FRAGMENTED = {"movflags": "delay_moov+default_base_moof", "frag_duration": "1000000", "flush_packets": "1"}


# What writing a clip may raise besides a bug: the disk, FFmpeg, a stream the muxer refuses.
MUX_ERRORS: tuple[type[BaseException], ...] = (OSError, av.FFmpegError, ValueError)


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL)


# The raw demuxer that makes an empty stream of each codec an MP4 can take from a camera: the
# template's codec, before the camera's parameters go on it.
_RAW_FORMATS = {"h264": "h264", "hevc": "hevc", "mjpeg": "mjpeg", "av1": "obu", "mpeg4": "m4v"}


class StreamTemplate:
    """What a muxer needs of the camera's video stream, made from its neutral `StreamParams`
    (codec, size, extradata ...), which the decoder copied while the input was open: the camera's
    connection may be closed (a reconnect) before a clip that uses them is written. Held as a
    stream of an input container in memory that never reads. Raises ValueError for a stream an
    MP4 cannot hold as it is (a webcam's raw video)."""

    def __init__(self, params: StreamParams) -> None:
        self.codec = params.codec
        raw = _RAW_FORMATS.get(params.codec)
        if raw is None:
            raise ValueError(f"{params.codec!r} cannot be remuxed into an MP4 here")
        self._holder = av.open(io.BytesIO(b""), "r", format=raw)
        self.stream = self._holder.streams.video[0]
        self.params = params

    def add_to(self, container: Any) -> Any:
        """A stream of `container` (an output) holding these parameters."""
        params = self.params
        stream = container.add_stream_from_template(self.stream, opaque=True)
        context = stream.codec_context
        context.width, context.height = params.width, params.height
        if params.pix_fmt:
            context.pix_fmt = params.pix_fmt
        if params.extradata:
            context.extradata = params.extradata
        if params.profile:
            context.profile = params.profile
        if params.level:
            context.level = params.level
        context.color_range, context.color_primaries = params.color_range, params.color_primaries
        context.color_trc, context.colorspace = params.color_trc, params.colorspace
        if params.bit_rate:
            context.bit_rate = params.bit_rate
        if params.sample_aspect_ratio:
            context.sample_aspect_ratio = params.sample_aspect_ratio
        return stream

    def close(self) -> None:
        try:
            self._holder.close()
        except (av.FFmpegError, OSError, ValueError):
            pass


class ClipFile:
    """`NAME.mp4.partial` while written, renamed to `NAME.mp4` by `finish`. Times are rebased
    on the first packet's decoding time, so the clip starts at (about) zero."""

    def __init__(self, path: Path, template: StreamTemplate, comment: str | None = None) -> None:
        self.path = path
        self.packets = 0
        self._origin: float | None = None
        self._last_dts = -1
        # A Python file of our own, as the video sink's: FFmpeg's own writes ignore a full disk.
        # 0640, and a link planted at the path is refused.
        self._file = open(open_output(partial_path(path), "clips", exclusive=True), "wb", buffering=0)
        try:
            self._container = av.open(self._file, "w", format="mp4", options=dict(_FRAGMENTED))
        except BaseException:
            with suppress(OSError):
                self._file.close()
                partial_path(path).unlink(missing_ok=True)
            raise
        try:
            self._stream = template.add_to(self._container)
        except BaseException:
            self.abandon()
            partial_path(path).unlink(missing_ok=True)
            raise
        self._stream.time_base = TIME_BASE
        self._comment = comment  # which input of the camera the clip is cut from (masked URL): in its header

    def add(self, packet: Packet, capture_offset: float | None = None) -> None:
        """Mux `packet`; `capture_offset` (capture time minus PTS, POSIX seconds) puts the first
        packet's capture time into the clip's comment (written with the header, at the first packet)."""
        if self._origin is None:
            self._origin = packet.dts
            if self._comment:
                start = "" if capture_offset is None else f"; starts at {_utc(packet.pts + capture_offset)} (capture time)"
                self._container.metadata["comment"] = self._comment + start
        dts = max(round((packet.dts - self._origin) * TICKS_PER_SECOND), self._last_dts + 1)  # strictly rising
        pts = max(round((packet.pts - self._origin) * TICKS_PER_SECOND), dts)
        out = av.Packet(packet.data)
        out.stream = self._stream
        out.time_base = TIME_BASE
        out.pts, out.dts = pts, dts
        out.duration = round(packet.duration * TICKS_PER_SECOND)
        out.is_keyframe = packet.key
        self._container.mux_one(out)
        self._last_dts = dts
        self.packets += 1

    def finish(self) -> None:
        """Write the index and give the file its final name."""
        try:
            self._container.close()
            self._file.close()
        except BaseException:
            self.abandon()  # the file is let go of whatever happens (a full disk)
            raise
        os.replace(partial_path(self.path), self.path)

    def abandon(self) -> None:
        """Close after an error, leaving the `.partial` (it plays up to its last fragment)."""
        try:
            self._container.close()
        except (av.FFmpegError, OSError, ValueError):
            log.debug("clip %s: closing after an error failed too", self.path, exc_info=True)
        with suppress(OSError):
            self._file.close()


def _utc(seconds: float) -> str:
    """POSIX seconds as ISO 8601 UTC with microseconds, as records write capture times."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
