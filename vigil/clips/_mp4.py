"""One clip being written: packets remuxed (never decoded) into a fragmented MP4."""

from __future__ import annotations

import io
import logging
import os
from contextlib import suppress
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from vigil.clips._ring import ClipPacket
from vigil.sinks.files import open_output

__all__ = ["ClipFile", "StreamTemplate", "partial_path"]

log = logging.getLogger(__name__)

TICKS_PER_SECOND = 90_000  # MPEG's clock, as the video sink's
TIME_BASE = Fraction(1, TICKS_PER_SECOND)
PARTIAL = ".partial"
# As the video sink's segments (vigil/sinks/video.py): a fragment a second handed to the OS as
# it is cut, so a crash leaves a `.mp4.partial` that plays up to its last second or so.
_FRAGMENTED = {"movflags": "delay_moov+default_base_moof", "frag_duration": "1000000", "flush_packets": "1"}


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL)


class StreamTemplate:
    """What a muxer needs of the camera's video stream (codec, size, extradata: its codec
    parameters), copied while the input stream is open: the camera's container may be closed
    (a reconnect) before a clip that uses them is written. Held by an output container in
    memory that never writes."""

    def __init__(self, stream: Any) -> None:
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        self.stream = self._holder.add_stream_from_template(stream, opaque=True)
        self.codec = stream.codec_context.name

    def close(self) -> None:
        try:
            self._holder.close()
        except (av.FFmpegError, OSError, ValueError):  # never started: nothing to finish
            pass


class ClipFile:
    """`NAME.mp4.partial` while written, renamed to `NAME.mp4` by `finish`. Times are rebased
    on the first packet's decoding time, so the clip starts at (about) zero."""

    def __init__(self, path: Path, template: StreamTemplate) -> None:
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
        self._stream = self._container.add_stream_from_template(template.stream, opaque=True)
        self._stream.time_base = TIME_BASE

    def add(self, packet: ClipPacket) -> None:
        if self._origin is None:
            self._origin = packet.dts
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
