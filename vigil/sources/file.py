"""Video files: as fast as downstream takes them (nothing dropped), or paced like a camera."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import av

from vigil.errors import SourceOpenError
from vigil.sources._pyav import PyAVSource, sleep_until

__all__ = ["FileSource"]


class FileSource(PyAVSource):
    """Decode a video file.

    By default every frame is decoded and handed on, and the decode thread waits while the
    hand-off queue (`queue_size` frames) is full, so a slow model slows decoding instead of
    growing a buffer. `realtime=True` paces frames by their PTS and behaves like a camera (the
    newest frames are kept when downstream is slow). `loop=True` starts again at the end, with
    PTS and sequence numbers continuing. `max_fps` samples the stream (see `PyAVSource`).
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
    ) -> None:
        super().__init__(source_id, queue_size=queue_size, decode_threads=decode_threads, max_fps=max_fps)
        self.path = Path(path)
        self.realtime = realtime
        self.loop = loop
        self.live = realtime
        self._clock: tuple[float, float] | None = None  # (monotonic at first frame, its pts)

    def _open(self) -> Any:
        if not self.path.is_file():
            what = "is a directory" if self.path.is_dir() else "not found"
            raise SourceOpenError(f"source '{self.source_id}': file {what}: {self.path}; check the path")
        try:
            container = av.open(str(self.path), mode="r")
        except av.FFmpegError as exc:
            raise SourceOpenError(
                f"source '{self.source_id}': {self.path} is not a readable video ({exc.strerror or exc}); "
                "pass a video file such as .mp4 or .mkv"
            ) from exc
        if not container.streams.video:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "no streams"
            container.close()
            raise SourceOpenError(f"source '{self.source_id}': {self.path} has no video stream (it has {kinds})")
        return container

    def _stream(self, container: Any) -> None:
        self._configure(container)
        seq, offset = 0, 0.0
        while True:
            first = seq
            seq, last_pts = self._read(container, seq=seq, pts_offset=offset)
            if not self.loop or seq == first:
                return
            rate = float(container.streams.video[0].average_rate or 30)
            offset = last_pts + 1.0 / rate  # the next pass continues the clock
            container.seek(0)
            container.streams.video[0].codec_context.flush_buffers()

    def _pace(self, pts: float) -> None:
        if not self.realtime:
            return
        if self._clock is None:
            self._clock = (time.monotonic(), pts)
        start, first_pts = self._clock
        sleep_until(start + pts - first_pts, self._stopping)
