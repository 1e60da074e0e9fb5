"""JSON Lines: one line per frame, schema in docs/OUTPUT.md."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import IO, Any

from vigil.engine.detections import Detections
from vigil.errors import SinkError
from vigil.result import InferenceResult
from vigil.sinks.base import Sink
from vigil.sinks.records import header_to_record, mask_rle, record_header, result_to_record

__all__ = ["JsonlSink", "mask_rle", "result_to_record"]

log = logging.getLogger(__name__)


class JsonlSink(Sink):
    """Appends one JSON line per result to `path`. JSON encoding and writes run on a thread;
    lines are flushed to the OS after every write batch so a crash loses at most that batch."""

    def __init__(self, path: str | Path, *, queue_size: int = 256) -> None:
        self.name = f"jsonl:{path}"
        self.path = Path(path)
        self._queue: asyncio.Queue[tuple[dict[str, Any], Detections] | None] = asyncio.Queue(maxsize=queue_size)
        self._file: IO[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.written = 0

    async def start(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = await asyncio.to_thread(open, self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise SinkError(f"sink '{self.name}': cannot open {self.path} for writing ({exc.strerror})") from exc
        self._task = asyncio.create_task(self._writer(), name=f"sink-{self.name}")

    async def publish(self, result: InferenceResult) -> None:
        if self._error is not None:
            raise SinkError(f"sink '{self.name}' failed earlier: {self._error}")
        # Queue the frame's identity and the detections, not the frame: its image must not wait
        # here. The JSON (masks included) is built on the writer thread.
        await self._queue.put((record_header(result), result.detections))

    async def flush(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        if self._file is not None:
            await asyncio.to_thread(self._file.close)
            self._file = None

    async def _writer(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 64:
                batch.append(self._queue.get_nowait())
            records = [r for r in batch if r is not None]
            try:
                if records and self._error is None:
                    await asyncio.to_thread(self._write, records)
            except OSError as exc:
                self._error = exc
                log.error("sink '%s': writing %s failed (%s); further results are not written", self.name, self.path, exc)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if len(records) != len(batch):
                return

    def _write(self, records: list[tuple[dict[str, Any], Detections]]) -> None:
        assert self._file is not None
        lines = (json.dumps(header_to_record(header, dets), separators=(",", ":")) + "\n" for header, dets in records)
        self._file.write("".join(lines))
        self._file.flush()
        self.written += len(records)
