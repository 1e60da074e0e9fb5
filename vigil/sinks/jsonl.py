"""JSON Lines: one line per frame, schema in docs/OUTPUT.md.

The file being written keeps its name (`tail -F` keeps working). With rotation, a full file is
renamed after the UTC time its segment began (`results.20261124T035012345Z.jsonl`, to the
millisecond, so names sort in time order) and, with
`gzip`, compressed to `.jsonl.gz` on the writer thread. With `per_source`, the path holds a
`{source}` placeholder and each source writes its own files.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from vigil.engine import Detections
from vigil.errors import ConfigError, SinkError
from vigil.events import Event
from vigil.result import InferenceResult, Predictions
from vigil.sinks.base import Sink, SinkHealth, SinkStats
from vigil.sinks.records import header_to_record, mask_rle, record_header, result_to_record

if TYPE_CHECKING:
    from vigil.config.sinks import JsonlSinkConfig
    from vigil.sinks.registry import SinkContext

__all__ = ["JsonlOptions", "JsonlSink", "make_jsonl_sink", "mask_rle", "result_to_record"]

log = logging.getLogger(__name__)

FlushPolicy = Literal["os", "fsync", "buffered"]


@dataclass(frozen=True, slots=True)
class JsonlOptions:
    """`per_source`: one file per source (the path must contain `{source}`); `rotate_bytes` /
    `rotate_seconds`: start a new file once the current one reaches this size / age; `gzip`:
    compress rotated files; `flush`: after each batch of lines, hand them to the OS (`os`, the
    default: a crash of vigil loses nothing written), also fsync them (`fsync`: a power cut
    loses nothing), or leave them in vigil's buffer until it fills (`buffered`: fastest)."""

    per_source: bool = False
    rotate_bytes: int | None = None
    rotate_seconds: float | None = None
    gzip: bool = False
    flush: FlushPolicy = "os"

    def __post_init__(self) -> None:
        if self.rotate_bytes is not None and self.rotate_bytes < 1:
            raise ConfigError(f"jsonl rotate_bytes must be at least 1, got {self.rotate_bytes}")
        if self.rotate_seconds is not None and self.rotate_seconds <= 0:
            raise ConfigError(f"jsonl rotate_seconds must be > 0, got {self.rotate_seconds}")
        if self.flush not in ("os", "fsync", "buffered"):
            raise ConfigError(f"jsonl flush must be 'os', 'fsync' or 'buffered', got {self.flush!r}")


class _Segment:
    """The file being written for one source (or for all) and when it was started."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.file: IO[str] = open(path, "a", encoding="utf-8")
        self.started = datetime.now(timezone.utc)
        self.started_monotonic = time.monotonic()


class JsonlSink(Sink):
    """Appends one JSON line per result. JSON encoding, writes, rotation and compression run on
    the writer thread; `publish` only queues (bounded) the frame's identity and detections."""

    kind = "jsonl"
    takes_events = True  # an event is a line of its own, `"record": "event"` (docs/OUTPUT.md)

    def __init__(
        self,
        path: str | Path,
        *,
        options: JsonlOptions | None = None,
        queue_size: int = 256,
        name: str = "jsonl",
    ) -> None:
        self.options = options or JsonlOptions()
        self.name = name
        self.path = Path(path)
        if self.options.per_source and "{source}" not in str(path):
            raise ConfigError(f"sink '{self.name}': per-source files need a {{source}} placeholder in the path")
        # (header, detections) of a result, or (event record, None) of an event; None ends the writer.
        self._queue: asyncio.Queue[tuple[dict[str, Any], Predictions | None] | None] = asyncio.Queue(maxsize=queue_size)
        self._segments: dict[str, _Segment] = {}
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.written = 0
        self.rotated: list[Path] = []  # closed files, in the order they were closed

    async def start(self) -> None:
        if not self.options.per_source:  # fail at start-up, not on the first result
            await asyncio.to_thread(self._segment, "")
        self._task = asyncio.create_task(self._writer(), name=f"sink-{self.name}")

    async def publish(self, result: InferenceResult) -> None:
        if self._error is not None:
            raise SinkError(f"sink '{self.name}' failed earlier: {self._error}")
        # Queue the frame's identity and the detections, not the frame: its image must not wait
        # here. The JSON (masks included) is built on the writer thread.
        await self._queue.put((record_header(result), result.detections))

    async def publish_event(self, event: Event) -> None:
        if self._error is not None:
            raise SinkError(f"sink '{self.name}' failed earlier: {self._error}")
        await self._queue.put((event.to_record(), None))

    def health(self) -> SinkHealth:
        if self._error is not None:
            return SinkHealth(False, f"writing stopped: {self._error}")
        return SinkHealth()

    def stats(self) -> SinkStats:
        failed = self._error is not None
        return SinkStats(self.written, 0, self._queue.qsize(), int(failed), str(self._error) if failed else None)

    async def flush(self) -> None:
        await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        await asyncio.to_thread(self._close_all)

    async def _writer(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 64:
                batch.append(self._queue.get_nowait())
            records = [r for r in batch if r is not None]
            try:
                if records and self._error is None:
                    await asyncio.to_thread(self._write, records)
            except (OSError, SinkError) as exc:
                self._error = exc
                log.error("sink '%s': writing failed (%s); further results are not written", self.name, exc)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if len(records) != len(batch):
                return

    # Everything below runs on the writer thread.

    def _segment(self, source: str) -> _Segment:
        key = source if self.options.per_source else ""
        segment = self._segments.get(key)
        if segment is None:
            path = Path(str(self.path).replace("{source}", source)) if self.options.per_source else self.path
            try:
                segment = self._segments[key] = _Segment(path)
            except OSError as exc:
                raise SinkError(f"sink '{self.name}': cannot open {path} for writing ({exc.strerror}); check the path") from exc
        return segment

    def _write(self, records: list[tuple[dict[str, Any], Predictions | None]]) -> None:
        by_segment: dict[str, list[str]] = {}
        for header, dets in records:
            key = header["source"] if self.options.per_source else ""
            record = header if dets is None else header_to_record(header, dets)  # an event is ready as it is
            by_segment.setdefault(key, []).append(json.dumps(record, separators=(",", ":")))
        for key, lines in by_segment.items():
            segment = self._segment(key)
            if self._too_old(segment):
                segment = self._rotate(key)
            segment.file.write("\n".join(lines) + "\n")
            if self.options.flush != "buffered":
                segment.file.flush()
                if self.options.flush == "fsync":
                    os.fsync(segment.file.fileno())
            self.written += len(lines)
            if self.options.rotate_bytes is not None and segment.file.tell() >= self.options.rotate_bytes:
                self._rotate(key)

    def _too_old(self, segment: _Segment) -> bool:
        age = self.options.rotate_seconds
        return age is not None and time.monotonic() - segment.started_monotonic >= age

    def _rotate(self, key: str) -> _Segment:
        """Close the current file under its segment's name, compress it if asked, open a new one."""
        segment = self._segments.pop(key)
        self._finish(segment)
        return self._segment(key)

    def _finish(self, segment: _Segment) -> None:
        segment.file.flush()
        os.fsync(segment.file.fileno())
        segment.file.close()
        if segment.path.stat().st_size == 0:
            return
        # Names sort in the order the segments began: UTC to the millisecond, then _1, _2 ...
        started = segment.started
        stamp = started.strftime("%Y%m%dT%H%M%S") + f"{started.microsecond // 1000:03d}Z"
        closed = segment.path.with_name(f"{segment.path.stem}.{stamp}{segment.path.suffix}")
        n = 1
        while closed.exists() or closed.with_name(closed.name + ".gz").exists():
            closed = segment.path.with_name(f"{segment.path.stem}.{stamp}_{n}{segment.path.suffix}")
            n += 1
        os.replace(segment.path, closed)
        if self.options.gzip:
            closed = _gzip(closed)
        self.rotated.append(closed)
        log.info("sink '%s': closed %s", self.name, closed)

    def _close_all(self) -> None:
        for segment in self._segments.values():
            segment.file.flush()
            if self.options.flush == "fsync":
                os.fsync(segment.file.fileno())
            segment.file.close()
        self._segments.clear()


def make_jsonl_sink(config: JsonlSinkConfig, context: SinkContext) -> JsonlSink:
    """The registry's factory for `kind: jsonl`."""
    options = JsonlOptions(
        per_source=config.per_source,
        rotate_bytes=int(config.rotate_mb * 2**20) if config.rotate_mb else None,
        rotate_seconds=config.rotate_minutes * 60 if config.rotate_minutes else None,
        gzip=config.gzip,
        flush=config.flush,
    )
    return JsonlSink(config.path, options=options, name=context.name)


def _gzip(path: Path) -> Path:
    """`path` compressed to `path.gz` (written under a temporary name, then renamed); the
    uncompressed file is removed only once the compressed one is complete."""
    target = path.with_name(path.name + ".gz")
    partial = path.with_name(path.name + ".gz.partial")
    with open(path, "rb") as src, gzip.open(partial, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.replace(partial, target)
    path.unlink()
    return target
