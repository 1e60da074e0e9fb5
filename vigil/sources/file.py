"""Video files: as fast as downstream takes them (nothing dropped), or paced like a camera."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.errors import SourceOpenError
from vigil.sources._decoding import DecodingSource
from vigil.sources._handoff import sleep_until
from vigil.sources._scaling import DecodeSize
from vigil.sources.decode._whitelists import FILE_FORMATS
from vigil.sources.decode.base import Decoder, DecoderInput, InputSpec, NoVideoStream, OpenFailed, StreamInfo
from vigil.sources.gate import FrameGate

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder

__all__ = ["FileSource"]

_NOT_FILES = {
    stat.S_IFDIR: "is a directory",
    stat.S_IFCHR: "is a character device",
    stat.S_IFBLK: "is a block device",
    stat.S_IFIFO: "is a named pipe (FIFO)",
    stat.S_IFSOCK: "is a socket",
}


class FileSource(DecodingSource):
    """Decode a video file.

    By default every frame is decoded and handed on, and the decode thread waits while the
    hand-off queue (`queue_size` frames) is full, so a slow model slows decoding instead of
    growing a buffer. `realtime=True` paces frames by their PTS and behaves like a camera (the
    newest frames are kept when downstream is slow). `loop=True` starts again at the end, with
    PTS and sequence numbers continuing. `max_fps` samples the stream (see `vigil.sources._sampling`).
    `decoder`: a decoder's name (`auto`, `pyav`) or a `Decoder` (see `vigil.sources.decode`).
    """

    def __init__(
        self,
        source_id: str,
        path: str | Path,
        *,
        queue_size: int = 4,
        decode_threads: int = 0,
        realtime: bool = False,
        loop: bool = False,
        max_fps: float | None = None,
        gates: Sequence[FrameGate] = (),
        clips: ClipRecorder | None = None,
        decoder: str | Decoder = "auto",
        decode_size: DecodeSize | tuple[int, int] | None = None,
    ) -> None:
        super().__init__(
            source_id,
            queue_size=queue_size,
            decode_threads=decode_threads,
            max_fps=max_fps,
            gates=gates,
            clips=clips,
            decoder=decoder,
            decode_size=decode_size,
        )
        self.path = Path(path)
        self.realtime = realtime
        self.loop = loop
        self.live = realtime
        self._clock: tuple[float, float] | None = None  # (monotonic at first frame, its pts)

    def _spec(self) -> InputSpec:
        # An absolute path: a name like `concat:a|b` or `subfile:...` stays a file name, never a protocol.
        return InputSpec("file", str(self.path.absolute()), threads=self.decode_threads)

    def _open(self) -> DecoderInput:
        self._check_regular_file()
        try:
            opened = self.scaling.open(self.decoder, self._spec())
        except NoVideoStream as exc:
            raise SourceOpenError(f"source '{self.source_id}': {self.path} has no video stream (it has {exc.reason})") from None
        except OpenFailed as exc:
            raise SourceOpenError(
                f"source '{self.source_id}': {self.path} is not a readable video ({exc.reason}); pass a "
                f"video file in one of the containers {FILE_FORMATS.replace(',', ', ')} (e.g. .mp4, .mkv, .avi, .ts)"
            ) from exc
        if not self.loop and not self.max_fps:  # sampling makes the count a guess: none then
            self.expected_frames = _frame_count(opened.info)
        return opened

    def _check_regular_file(self) -> None:
        """Only a regular file: FFmpeg would wait forever on a FIFO and find "nothing" in a device."""
        try:
            mode = os.stat(self.path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            raise SourceOpenError(f"source '{self.source_id}': file not found: {self.path}; check the path") from None
        except OSError as exc:
            raise SourceOpenError(
                f"source '{self.source_id}': cannot access {self.path} ({exc.strerror}); check the path"
            ) from None
        if not stat.S_ISREG(mode):
            what = _NOT_FILES.get(stat.S_IFMT(mode), "is not a regular file")
            raise SourceOpenError(
                f"source '{self.source_id}': {self.path} {what}, not a regular video file; pass a video file such as .mp4 or .mkv"
            )

    def _stream(self, opened: DecoderInput) -> None:
        self._clips_opened(opened)  # once: a loop pass continues the stream's clock
        try:
            self._loop_passes(opened)
        finally:
            self._clips_ended()

    def _loop_passes(self, opened: DecoderInput) -> None:
        seq, offset = 0, 0.0
        while True:
            first = seq
            seq, last_pts = self._read(opened, seq=seq, pts_offset=offset)
            if not self.loop or seq == first:
                return
            offset = last_pts + 1.0 / (opened.info.fps or 30)  # the next pass continues the clock
            opened.rewind()

    def _pace(self, pts: float) -> None:
        if not self.realtime:
            return
        if self._clock is None:
            self._clock = (time.monotonic(), pts)
        start, first_pts = self._clock
        sleep_until(start + pts - first_pts, self._stopping)


def _frame_count(info: StreamInfo) -> int | None:
    """The video stream's frame count from the container's index (MP4, MOV), else its duration
    times its frame rate (an estimate: MKV, WebM); None when the container says neither."""
    if info.frames:
        return info.frames
    if info.duration_s and info.fps:
        return max(1, round(info.duration_s * info.fps))
    return None
