"""Video files: PyAV demux + decode on a worker thread, frames handed to asyncio with backpressure."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import av

from vigil.errors import SourceDecodeError, SourceOpenError
from vigil.frame import Frame
from vigil.sources.base import Source

__all__ = ["FileSource"]

log = logging.getLogger(__name__)

_END = object()


class FileSource(Source):
    """Decode every frame of a video file, as fast as downstream takes them (no frame dropped).

    The decode thread blocks while the hand-off queue (`queue_size` frames) is full, so a slow
    model slows decoding instead of growing a buffer.
    """

    live = False

    def __init__(self, source_id: str, path: str | Path, *, queue_size: int = 4, decode_threads: int = 0) -> None:
        self.source_id = source_id
        self.path = Path(path)
        self.decode_threads = decode_threads  # 0: FFmpeg picks (one per core)
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.frames_decoded = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(opened,), name=f"decode-{self.source_id}", daemon=True)
        self._thread.start()
        await asyncio.wrap_future(opened)

    async def stop(self) -> None:
        """Stop decoding; frames decoded but not yet taken are discarded."""
        self._stopping.set()
        self._drain()  # unblock a decode thread waiting for room
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._drain()
        self._queue.put_nowait(_END)  # wake a reader still waiting for frames

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def __aiter__(self) -> AsyncIterator[Frame]:
        while True:
            item = await self._queue.get()
            if item is _END or self._stopping.is_set():
                return
            if isinstance(item, Exception):
                raise item
            yield item

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
            container.close()
            raise SourceOpenError(f"source '{self.source_id}': {self.path} has no video stream")
        return container

    def _run(self, opened: concurrent.futures.Future[None]) -> None:
        try:
            container = self._open()
        except SourceOpenError as exc:
            opened.set_exception(exc)
            return
        opened.set_result(None)
        try:
            try:
                self._decode(container)
                last: Any = _END
            except SourceDecodeError as exc:
                last = exc
            self._put(last)
        except _Stopped:
            pass
        finally:
            container.close()

    def _decode(self, container: Any) -> None:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.decode_threads
        started = datetime.now(timezone.utc)
        first_pts: float | None = None
        seq = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and frame.time_base is not None:
                    pts = float(frame.pts * frame.time_base)
                else:  # streams without timestamps: derive from the nominal rate
                    pts = seq / float(stream.average_rate or 30)
                if first_pts is None:
                    first_pts = pts
                image = frame.to_ndarray(format="bgr24")
                capture = started + timedelta(seconds=pts - first_pts)
                self._put(Frame(self.source_id, seq, pts, capture, image))
                seq += 1
                self.frames_decoded = seq
        except av.FFmpegError as exc:
            raise SourceDecodeError(
                f"source '{self.source_id}': decoding {self.path} failed after {seq} frames ({exc.strerror or exc})"
            ) from exc

    def _put(self, item: Any) -> None:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while True:
            if self._stopping.is_set():
                future.cancel()
                raise _Stopped
            try:
                future.result(timeout=0.1)
                return
            except concurrent.futures.TimeoutError:
                continue


class _Stopped(Exception):
    """Raised inside the decode thread when `stop()` was called."""
