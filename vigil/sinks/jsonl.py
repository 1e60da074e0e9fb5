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
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vigil.errors import ConfigError, SinkError
from vigil.events import Event
from vigil.result import InferenceResult, Predictions
from vigil.sinks.base import Sink, SinkHealth, SinkStats
from vigil.sinks.faults import Faults, classify
from vigil.sinks.files import make_dirs, open_output
from vigil.sinks.records import header_to_record, mask_rle, record_header, result_to_record

if TYPE_CHECKING:
    from vigil.config.sinks import JsonlSinkConfig
    from vigil.sinks.registry import SinkContext

__all__ = ["JsonlOptions", "JsonlSink", "make_jsonl_sink", "mask_rle", "result_to_record"]

log = logging.getLogger(__name__)

FlushPolicy = Literal["os", "fsync", "buffered"]
FLUSH_GIVE_UP_S = 10.0  # `flush` stops waiting for lines once writes have failed this long
_BUFFER_BYTES = 64 * 1024  # `buffered`: lines wait in vigil until this much is there


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
    """The file being written for one source (or for all) and when it was started. Written
    through its descriptor in whole batches; `size` is the end of the last complete batch, so a
    failed write is cut back to it and no torn line stays in the file."""

    def __init__(self, path: Path, sink: str) -> None:
        make_dirs(path.parent)
        self.path = path
        self.fd = open_output(path, f"sink '{sink}'")
        self.size = os.fstat(self.fd).st_size
        self.buffer = bytearray()  # `buffered` policy: lines not yet handed to the OS
        self.buffered_lines = 0
        self.started = datetime.now(timezone.utc)
        self.started_monotonic = time.monotonic()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:
            with suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class JsonlSink(Sink):
    """Appends one JSON line per result. JSON encoding, writes, rotation and compression run on
    the writer thread; `publish` only queues (bounded) the frame's identity and detections.

    A write that fails (a full disk, no descriptors left) leaves no torn line: the file is cut
    back to its last whole batch and closed, and the batch is written again after a backoff,
    into the file opened again. Meanwhile `publish` waits for room in the queue as always until
    the queue is full; then (and only while writes fail) a result that finds it full is dropped,
    counted under the fault's reason (`disk_full` ...), so a full disk never holds up the pipeline.
    """

    kind = "jsonl"

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
        self._closing = asyncio.Event()
        self._held = 0  # lines of the batch being retried
        self.faults = Faults(name)
        self.written = 0
        self.rotated: list[Path] = []  # closed files, in the order they were closed

    async def start(self) -> None:
        if not self.options.per_source:  # a wrong path fails at start-up, not on the first result
            try:
                await asyncio.to_thread(self._segment, "")
            except SinkError as exc:
                if not classify(exc).transient:
                    raise
                self.faults.failed(exc, self.path)  # a full disk, no descriptors: the writer retries
        self._task = asyncio.create_task(self._writer(), name=f"sink-{self.name}")

    async def publish(self, result: InferenceResult) -> None:
        # Queue the frame's identity and the detections, not the frame: its image must not wait
        # here. The JSON (masks included) is built on the writer thread.
        await self._put((record_header(result), result.detections))

    async def publish_event(self, event: Event) -> None:
        await self._put((event.to_record(), None))

    async def _put(self, item: tuple[dict[str, Any], Predictions | None]) -> None:
        fault = self.faults.current
        if fault is None:
            await self._queue.put(item)
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.faults.dropped(fault.reason)

    def health(self) -> SinkHealth:
        failing = self.faults.health(f"{self._held + self._queue.qsize()} waiting to be written")
        return failing or SinkHealth()

    def stats(self) -> SinkStats:
        f = self.faults
        backlog = self._held + self._queue.qsize()
        return SinkStats(self.written, f.total_dropped, backlog, f.errors, f.last_error, dropped_by_reason=f.dropped_by_reason)

    async def flush(self) -> None:
        """Wait until every queued line is written; while writes have failed for
        `FLUSH_GIVE_UP_S`, stop waiting (the lines stay queued, retried) so a full disk cannot
        hold up a shutdown."""
        joined = asyncio.ensure_future(self._queue.join())
        try:
            while not joined.done():
                await asyncio.wait([joined], timeout=0.5)
                failing = self.faults.failing_for()
                if not joined.done() and failing is not None and failing >= FLUSH_GIVE_UP_S:
                    log.warning(
                        "sink '%s': not waiting for %d line(s) any longer: writes have failed for %.0f s",
                        self.name,
                        self._held + self._queue.qsize(),
                        failing,
                    )
                    return
        finally:
            joined.cancel()

    async def close(self) -> None:
        """Write what is queued and close the files. While writes fail, what is left after one
        more attempt is dropped (counted) rather than waited for."""
        self._closing.set()
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
                await self._write_until_done(records)  # empties `records`
            finally:
                for _ in batch:
                    self._queue.task_done()
            if batch[-1] is None:
                return

    async def _write_until_done(self, records: list[tuple[dict[str, Any], Predictions | None]]) -> None:
        """Write `records`, retrying with backoff while writes fail (held, not dropped); at
        close, one more attempt, then what is left is dropped."""
        while records:
            self._held = len(records)
            try:
                await asyncio.to_thread(self._write, records)  # takes the written ones out of `records`
            except Exception as exc:  # noqa: BLE001 - any failure is retried: the sink never stops for good
                fault = self.faults.failed(exc, self.path)
                await asyncio.to_thread(self._drop_segments, fault.reason)
                if self._closing.is_set():
                    self.faults.dropped(fault.reason, len(records))
                    break
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self.faults.delay())
            else:
                self.faults.recovered()
        self._held = 0

    # Everything below runs on the writer thread.

    def _segment(self, source: str) -> _Segment:
        key = source if self.options.per_source else ""
        segment = self._segments.get(key)
        if segment is None:
            path = Path(str(self.path).replace("{source}", source)) if self.options.per_source else self.path
            try:
                segment = self._segments[key] = _Segment(path, self.name)
            except OSError as exc:
                raise SinkError(f"sink '{self.name}': cannot open {path} for writing ({exc.strerror}); check the path") from exc
        return segment

    def _write(self, records: list[tuple[dict[str, Any], Predictions | None]]) -> None:
        by_segment: dict[str, list[int]] = {}
        lines: list[str] = []
        for index, (header, dets) in enumerate(records):
            key = header["source"] if self.options.per_source else ""
            record = header if dets is None else header_to_record(header, dets)  # an event is ready as it is
            lines.append(json.dumps(record, separators=(",", ":")))
            by_segment.setdefault(key, []).append(index)
        done: set[int] = set()
        try:
            for key, indexes in by_segment.items():
                self._append(key, "\n".join(lines[i] for i in indexes) + "\n", len(indexes))
                done.update(indexes)
                self._rotate_if_full(key)
        finally:
            records[:] = [r for i, r in enumerate(records) if i not in done]

    def _append(self, key: str, text: str, count: int) -> None:
        segment = self._segment(key)
        if self._too_old(segment):
            segment = self._rotate(key)
        data = text.encode()
        if self.options.flush == "buffered":
            segment.buffer += data
            segment.buffered_lines += count
            if len(segment.buffer) >= _BUFFER_BYTES:
                self._write_buffer(segment)
        else:
            segment.write(data)
            if self.options.flush == "fsync":
                os.fsync(segment.fd)
        self.written += count

    def _rotate_if_full(self, key: str) -> None:
        """Rotate at `rotate_bytes`; the lines are written already, so a failure here is only
        counted and reported (the file stays, and is appended to or rotated later)."""
        segment = self._segments.get(key)
        if self.options.rotate_bytes is None or segment is None:
            return
        if segment.size + len(segment.buffer) >= self.options.rotate_bytes:
            try:
                self._rotate(key)
            except (OSError, SinkError) as exc:
                self.faults.failed(exc, segment.path)

    def _write_buffer(self, segment: _Segment) -> None:
        if segment.buffer:
            segment.write(bytes(segment.buffer))
            segment.buffer.clear()
            segment.buffered_lines = 0

    def _drop_segments(self, reason: str) -> None:
        """After a failed write: close every file (each cut back to its last whole batch); they
        are opened again by the next attempt. Lines still in vigil's buffer (`buffered`) are lost."""
        for segment in self._segments.values():
            if segment.buffered_lines:
                self.written -= segment.buffered_lines
                self.faults.dropped(reason, segment.buffered_lines)
            with suppress(OSError):
                segment.close()
        self._segments.clear()

    def _too_old(self, segment: _Segment) -> bool:
        age = self.options.rotate_seconds
        return age is not None and time.monotonic() - segment.started_monotonic >= age

    def _rotate(self, key: str) -> _Segment:
        """Close the current file under its segment's name, compress it if asked, open a new one."""
        segment = self._segments[key]
        self._write_buffer(segment)
        del self._segments[key]
        self._finish(segment)
        return self._segment(key)

    def _finish(self, segment: _Segment) -> None:
        try:
            os.fsync(segment.fd)
        finally:
            segment.close()
        if segment.size == 0:
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
            try:
                closed = _gzip(closed, self.name)
            except OSError as exc:  # the lines are safe in the uncompressed file: keep it as it is
                self.faults.failed(exc, closed)
        self.rotated.append(closed)
        log.info("sink '%s': closed %s", self.name, closed)

    def _close_all(self) -> None:
        for segment in self._segments.values():
            try:
                self._write_buffer(segment)
                if self.options.flush == "fsync":
                    os.fsync(segment.fd)
            except OSError as exc:
                self.faults.dropped(self.faults.failed(exc, segment.path).reason, segment.buffered_lines)
            finally:
                segment.close()
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


def _gzip(path: Path, sink: str) -> Path:
    """`path` compressed to `path.gz` (written under a temporary name, then renamed); the
    uncompressed file is removed only once the compressed one is complete."""
    target = path.with_name(path.name + ".gz")
    partial = path.with_name(path.name + ".gz.partial")
    try:
        with (
            open(path, "rb") as src,
            open(open_output(partial, f"sink '{sink}'", append=False), "wb") as raw,
            gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw) as dst,
        ):
            shutil.copyfileobj(src, dst)
    except OSError:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    path.unlink()
    return target
