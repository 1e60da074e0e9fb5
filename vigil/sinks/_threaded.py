"""`ThreadedSink`: a sink that writes on its own thread, behind a bounded queue that drops.

The picture sinks (annotated video, snapshots) build on it. Their results hold whole images and
drawing and encoding them is slow, so a sink that falls behind loses frames, counted, instead of
holding up the pipeline or the other sinks; nothing of that work ever runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from abc import abstractmethod
from pathlib import Path

import numpy as np

from vigil.errors import ConfigError, SinkError
from vigil.events import Event
from vigil.result import InferenceResult
from vigil.sinks._annotate import Annotator
from vigil.sinks.base import Sink, SinkHealth, SinkStats
from vigil.sinks.faults import Faults, classify
from vigil.sinks.files import make_directory

__all__ = ["PictureSink", "ThreadedSink"]

log = logging.getLogger(__name__)


class ThreadedSink(Sink):
    """A bounded queue of results drained by one writer thread, in order.

    Subclasses implement `_open` (run on a thread by `start`), `_write` (one result, on the
    writer thread) and `_finish` (on the writer thread after the last result, at `close`); a
    subclass that offers events too implements `_write_event`, called in queue order with `_write`.
    `publish` never waits: a result that finds the queue full is dropped and counted (reason
    `queue_full`); `written` counts what the subclass wrote. A write that fails (a full disk, no
    descriptors left, a bug) is counted, its result dropped with the fault's reason
    (`disk_full` ...), and the results that come during the backoff after it are dropped the
    same way; then writing is tried again, and `health()` is not ok until a write succeeds.
    `_reset` (on the writer thread) lets a subclass let go of what a failed write left open.
    """

    def __init__(self, name: str, queue_size: int) -> None:
        if queue_size < 1:
            raise ConfigError(f"sink '{name}': queue_size must be at least 1, got {queue_size}")
        self.name = name
        self.written = 0
        self._dropped_by_source: dict[str, int] = {}
        self._queue: queue.Queue[InferenceResult | Event | None] = queue.Queue(queue_size)
        self._thread: threading.Thread | None = None
        self.faults = Faults(name)
        self.faults.declare("queue_full")

    @property
    def dropped(self) -> int:
        """Results dropped, whatever the reason (a full queue, a write fault)."""
        return self.faults.total_dropped

    async def start(self) -> None:
        await asyncio.to_thread(self._open)
        self._thread = threading.Thread(target=self._run, name=f"vigil-{self.name}", daemon=True)
        self._thread.start()

    def health(self) -> SinkHealth:
        """Not ok while writes fail (retrying); dropped results are noted otherwise, since
        dropping is how this sink keeps up by design."""
        failing = self.faults.health()
        if failing is not None:
            return failing
        if self.dropped:
            by = ", ".join(f"{n} {reason}" for reason, n in self.faults.dropped_by_reason.items() if n)
            return SinkHealth(True, f"{self.dropped} result(s) dropped ({by})")
        return SinkHealth()

    def stats(self) -> SinkStats:
        f = self.faults
        return SinkStats(
            self.written, f.total_dropped, self._queue.qsize(), f.errors, f.last_error, dropped_by_reason=f.dropped_by_reason
        )

    async def flush(self) -> None:
        """Wait until every queued result is written (a video frame: handed to its encoder) or dropped."""
        if self._thread is not None:
            await asyncio.to_thread(self._queue.join)

    async def close(self) -> None:
        """Write what is queued, finish open files and stop the thread."""
        if self._thread is None:
            return
        await asyncio.to_thread(self._queue.put, None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        if self._dropped_by_source:
            counts = ", ".join(f"{n} of '{source}'" for source, n in self._dropped_by_source.items())
            log.warning(
                "sink '%s': %d result(s) dropped in all because its queue was full: %s",
                self.name,
                sum(self._dropped_by_source.values()),
                counts,
            )

    def _ensure_running(self) -> None:
        if self._thread is None:
            raise SinkError(f"sink '{self.name}' is not running; results are published between start() and close()")

    def _offer(self, result: InferenceResult | Event) -> bool:
        """Queue `result` (or an event) without waiting; False when the queue is full (it is dropped)."""
        try:
            self._queue.put_nowait(result)
            return True
        except queue.Full:
            self._count_drop(result.source if isinstance(result, Event) else result.frame.source_id)
            return False

    def _count_drop(self, source: str) -> None:
        self.faults.dropped("queue_full")
        count = self._dropped_by_source[source] = self._dropped_by_source.get(source, 0) + 1
        if count == 1:  # once per source: a sink that stays behind would otherwise flood the log
            log.warning(
                "sink '%s': writing falls behind (queue of %d full); dropping results of source '%s' until it "
                "catches up (counted, total at close)",
                self.name,
                self._queue.maxsize,
                source,
            )

    def _run(self) -> None:
        while (result := self._queue.get()) is not None:
            try:
                self._attempt(result)
            finally:
                self._queue.task_done()
        try:
            self._finish()
        except Exception as exc:  # noqa: BLE001 - any failure is a fault: counted, retried
            self.faults.failed(exc, self._where())
        finally:
            self._queue.task_done()

    def _attempt(self, result: InferenceResult | Event) -> None:
        """Write one result, unless a backoff runs; a failure drops it, counted by reason."""
        faults = self.faults
        if faults.waiting() and faults.current is not None:
            faults.dropped(faults.current.reason)
            return
        try:
            if isinstance(result, Event):
                self._write_event(result)
            else:
                self._write(result)
        except Exception as exc:  # noqa: BLE001 - any failure is a fault: counted, the frame dropped
            faults.dropped(faults.failed(exc, self._where()).reason)
            try:
                self._reset()
            except Exception:  # letting go of a broken file must not end the writer
                log.debug("sink '%s': cleaning up after a failed write failed too", self.name, exc_info=True)
        else:
            faults.recovered()

    def _where(self) -> str | None:
        """Where this sink writes, for fault reports that name no path."""
        return None

    def _reset(self) -> None:
        """After a failed write: let go of files it left half written (on the writer thread)."""

    @abstractmethod
    def _open(self) -> None:
        """Prepare on a worker thread before the first result (directories, imports)."""

    @abstractmethod
    def _write(self, result: InferenceResult) -> None: ...

    def _write_event(self, event: Event) -> None:
        """Write one event offered with `_offer` (only sinks that take events offer any)."""
        raise NotImplementedError(f"sink '{self.name}' does not write events")

    @abstractmethod
    def _finish(self) -> None:
        """Complete what is open after the last result."""


class PictureSink(ThreadedSink):
    """A threaded sink that saves pictures of frames under `directory`, with the detections
    drawn on them when `annotate` (supervision is imported on the writer thread, at start)."""

    def __init__(self, name: str, directory: str | Path, annotate: bool, queue_size: int) -> None:
        super().__init__(name, queue_size)
        self.directory = Path(directory)
        self._annotate = annotate
        self._annotator: Annotator | None = None

    def _where(self) -> str:
        return str(self.directory)

    def _open(self) -> None:
        try:
            make_directory(self.directory, self.name)
        except SinkError as exc:  # a wrong path fails at start; a shortage is retried at each write
            if not classify(exc).transient:
                raise
            self.faults.failed(exc, self.directory)
        if self._annotate:
            self._annotator = Annotator(self.name)

    def _picture(self, result: InferenceResult) -> np.ndarray:
        image = result.frame.image
        return self._annotator.draw(image, result.detections, result.overlays) if self._annotator else image
