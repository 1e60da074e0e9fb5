"""`DurableSender`: at-least-once delivery through a disk spool, for any sink that sends records
somewhere that may be away (the webhook today; MQTT and NATS share it).

It owns the spool (`vigil/sinks/spool.py`, on its own single thread, so the event loop never
waits on a disk), and one sender task that reads the spool in order and hands each batch to the
sink's `Transport`: `send(records) -> Reply` (one attempt) and `probe() -> bool` (is the other
end answering, at no cost to it). Failed attempts are retried with backoff and probes
(`vigil/sinks/_delivery.py`: `Retrier`), records refused for good go to a dead-letter file, and
the counters and `health()` describe how delivery goes. The sink only says how to encode a
record and how to send a batch:

    sender = DurableSender("alerts", spool_dir, options, transport, redact)
    await sender.start()
    await sender.append(lambda: json.dumps(record).encode())   # encoded on the spool's thread
    ...
    await sender.close()   # undelivered records stay on disk for the next start
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import ParamSpec, Protocol, TypeVar

from vigil.errors import SinkError
from vigil.sinks._delivery import Reply, Retrier, RetryTimings, write_dead_letters
from vigil.sinks.base import SinkHealth, SinkStats
from vigil.sinks.faults import Faults, os_error
from vigil.sinks.spool import FsyncPolicy, Spool, SpoolOptions, SpoolRecord

__all__ = ["DEAD_LETTER_FILE", "DeliveryOptions", "DurableSender", "Transport"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

DEAD_LETTER_FILE = "dead-letter.jsonl"
_RESTART_S = 60.0  # after a bug in the sender, it starts over from the cursor this much later
_NEAR_CAP = 0.9  # a spool this full is unhealthy: at the cap the oldest records are dropped


class Transport(Protocol):
    """How a sink sends: one attempt at a batch, and a cheap check that the other end answers."""

    async def send(self, records: list[SpoolRecord]) -> Reply: ...

    async def probe(self) -> bool: ...


@dataclass(frozen=True)
class DeliveryOptions:
    """`batch_max` records a batch; a short batch waits `batch_linger_ms` for more; `timings`
    of the retries; `unhealthy_after_s` of failing before `health()` says so; `flush_timeout_s`
    a `flush()` waits by default; `close_grace_s` `close()` lets delivery go on; `spool` options."""

    batch_max: int = 50
    batch_linger_ms: float = 0.0
    timings: RetryTimings = RetryTimings()
    unhealthy_after_s: float = 30.0
    flush_timeout_s: float = 10.0
    close_grace_s: float = 2.0
    spool: SpoolOptions = field(default_factory=SpoolOptions)


class DurableSender:
    """The spool and the ordered sender of one sink named `name` (for messages), in `directory`.

    Counters: `delivered`, `retries` (failed attempts retried), `dead_lettered`; `backlog`
    (records in the spool) and `dropped_records` (lost to the spool's cap)."""

    def __init__(
        self,
        name: str,
        directory: str | Path,
        options: DeliveryOptions,
        transport: Transport,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.name, self.directory, self.options = name, Path(directory), options
        self.dead_letter_path = self.directory / DEAD_LETTER_FILE
        self._transport, self._redact = transport, redact
        self.delivered = self.retries = self.dead_lettered = 0
        self._spool: Spool | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._retrier = Retrier(options.timings, transport.probe)
        self._pending_bytes = 0  # undelivered bytes, read on the spool's thread after every change
        self._stopped: str | None = None  # why the sender stopped, if it did
        self._last_error: str | None = None  # the latest failed attempt, for stats()
        # The spool's own disk faults: appends refused while the disk is full (counted), the
        # cursor and dead letters saved again after a backoff.
        self.faults = Faults(name)
        self._cap_dropped_before = 0  # the spool's cap drops, kept once it is closed

    @property
    def backlog(self) -> int:
        return self._spool.backlog if self._spool is not None else 0

    @property
    def dropped_records(self) -> int:
        """Records lost: to the spool's cap, and refused while the spool's disk failed."""
        return self._cap_dropped + self.faults.total_dropped

    @property
    def _cap_dropped(self) -> int:
        return self._spool.dropped_records if self._spool is not None else self._cap_dropped_before

    @property
    def running(self) -> bool:
        return self._spool is not None and bool(self._tasks)

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="vigil-spool")
        try:
            self._spool = await self._io(Spool, self.directory, self.options.spool)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        if self._spool.backlog == 0:
            self._drained.set()
        self._pending_bytes = self._spool.pending_bytes
        self._tasks = [asyncio.create_task(self._send_loop(), name=f"sink-{self.name}")]
        if self.options.spool.fsync is FsyncPolicy.INTERVAL:
            self._tasks.append(asyncio.create_task(self._sync_loop(), name=f"sink-{self.name}-fsync"))
        self._tasks.append(asyncio.create_task(self._cursor_loop(), name=f"sink-{self.name}-cursor"))

    async def append(self, encode: Callable[[], bytes]) -> None:
        """Spool the record `encode()` returns (called on the spool's thread) for delivery."""
        if not self.running:
            raise SinkError(f"sink '{self.name}' is not running; results are published between start() and close()")
        try:
            await self._io(self._append, encode)
        except SinkError as exc:
            if os_error(exc) is None:  # not the disk: a record too large for a segment
                raise
            # The spool holds what it held (a torn append is cut off); this record is refused.
            self.faults.dropped(self.faults.failed(exc, self.directory).reason)
            return
        if self._spool is not None and not self._spool.cursor_unsaved:
            self.faults.recovered()
        self._drained.clear()
        self._wakeup.set()

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every record is delivered or dead-lettered, at most `timeout` seconds
        (default: `flush_timeout_s`). What is left stays in the spool."""
        limit = self.options.flush_timeout_s if timeout is None else timeout
        if not await self._wait_drained(limit):
            # close() warns about what is finally left; this says why the wait ended.
            log.info("sink '%s': %d result(s) still undelivered after waiting %.1fs", self.name, self.backlog, limit)

    async def close(self) -> None:
        """Stop sending after at most `close_grace_s`; undelivered records stay on disk."""
        if self._tasks:
            await self._wait_drained(self.options.close_grace_s)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        if self._spool is not None:
            left = self._spool.backlog
            self._cap_dropped_before = self._spool.dropped_records
            await self._io(self._spool.close)
            self._spool = None
            if left:
                log.warning(
                    "sink '%s': %d undelivered result(s) kept in spool %s; they are sent after the next start with it",
                    self.name,
                    left,
                    self.directory,
                )
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def stats(self) -> SinkStats:
        errors = self.retries + self.dead_lettered + self.faults.errors
        reasons = {"spool_full": self._cap_dropped, **self.faults.dropped_by_reason}
        last = self._stopped or self.faults.last_error or self._last_error
        return SinkStats(self.delivered, self.dropped_records, self.backlog, errors, last, dropped_by_reason=reasons)

    def health(self) -> SinkHealth:
        """Not ok while delivery has failed for `unhealthy_after_s`, the spool is near its cap, or
        sending stopped; reasons name the receiver's last answer and what waits."""
        waiting = f"{self.backlog} result(s) waiting in the spool"
        if self._stopped is not None:
            return SinkHealth(False, f"sending stopped: {self._stopped}; {waiting}")
        failing = self.faults.health(waiting)
        if failing is not None:
            return failing
        cap, segment = self.options.spool.max_bytes, self.options.spool.segment_bytes
        dropped = _dropped_note(self.stats().dropped_by_reason) or "none dropped yet"
        # Reaching the cap drops a whole segment: with few segments the spool is then far below
        # 90%, so "near" is also within one and a half segments of the cap.
        if self._spool is not None and self._pending_bytes >= min(_NEAR_CAP * cap, cap - 1.5 * segment):
            return SinkHealth(
                False, f"spool {self._pending_bytes / cap:.0%} full (cap {cap / 2**20:g} MiB), {waiting}, {dropped}"
            )
        failing_for, last = self._retrier.failing_for(), self._retrier.last_failure
        if failing_for is not None and last is not None and failing_for >= self.options.unhealthy_after_s:
            state = "unreachable" if last.status is None else f"answering HTTP {last.status}"
            return SinkHealth(False, f"receiver {state} for {failing_for:.0f} s ({last.detail}), {waiting}")
        return SinkHealth(True, _dropped_note(self.stats().dropped_by_reason))

    # -- the spool's thread -------------------------------------------------------------------

    async def _io(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` on the spool's single thread: every spool call is serialised there."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def _append(self, encode: Callable[[], bytes]) -> None:
        assert self._spool is not None
        self._spool.append(encode())
        self._pending_bytes = self._spool.pending_bytes

    def _ack(self, records: list[SpoolRecord]) -> None:
        assert self._spool is not None
        try:
            self._spool.ack(records)
        finally:
            self._pending_bytes = self._spool.pending_bytes

    # -- the sender ---------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        assert self._spool is not None
        while True:
            try:
                await self._send_all()
            except Exception as exc:  # a bug: say so loudly, then start over from the cursor
                self._stopped = f"the sender failed ({type(exc).__name__}); starting over in {_RESTART_S:.0f} s"
                log.exception(
                    "sink '%s': the sender failed; it starts over from the last acknowledged record in "
                    "%.0f s, results stay in spool %s",
                    self.name,
                    _RESTART_S,
                    self.directory,
                )
            await asyncio.sleep(_RESTART_S)
            try:
                await self._io(self._spool.rewind)  # the batch the bug held is handed out again
            except SinkError as exc:
                self.faults.failed(exc, self.directory)
                continue
            self._stopped = None

    async def _send_all(self) -> None:
        assert self._spool is not None
        while True:
            try:
                batch = await self._next_batch()
            except SinkError as exc:  # the spool cannot be read now (no descriptors, EIO): retry
                self.faults.failed(exc, self.directory)
                await asyncio.sleep(self.faults.delay())
                continue
            await self._deliver(batch)
            await self._acknowledge(batch)
            if self._spool.backlog == 0:
                self._drained.set()

    async def _acknowledge(self, batch: list[SpoolRecord]) -> None:
        """Acknowledge a delivered batch. A cursor that cannot be saved (a full disk) does not
        stop delivery: the acknowledgement stands in memory and `_cursor_loop` saves it later."""
        try:
            await self._io(self._ack, batch)
        except SinkError as exc:
            self.faults.failed(exc, self.directory)

    async def _cursor_loop(self) -> None:
        """Save a cursor that an acknowledgement could not save, after the backoff, until it is."""
        assert self._spool is not None
        while True:
            await asyncio.sleep(max(0.2, self.faults.delay()))
            if not self._spool.cursor_unsaved:
                continue
            try:
                await self._io(self._spool.save_cursor)
            except SinkError as exc:
                self.faults.failed(exc, self.directory)
            else:
                self.faults.recovered()

    async def _next_batch(self) -> list[SpoolRecord]:
        """The oldest undelivered records: as soon as there is one, or after `batch_linger_ms`
        when more are expected, up to `batch_max`."""
        assert self._spool is not None
        limit = self.options.batch_max
        while True:
            self._wakeup.clear()
            records = await self._io(self._spool.read, limit)
            if records:
                break
            if self._spool.backlog == 0:
                self._drained.set()
            await self._wakeup.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.batch_linger_ms / 1000
        while len(records) < limit and loop.time() < deadline:
            self._wakeup.clear()
            more = await self._io(self._spool.read, limit - len(records))
            records += more
            if not more:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), deadline - loop.time())
                except asyncio.TimeoutError:
                    break
        return records

    async def _deliver(self, records: list[SpoolRecord]) -> None:
        """Send `records` until the other end takes them or refuses them for good
        (dead-lettered). Anything else is retried, for as long as it takes."""
        retries = 0
        while True:
            reply = await self._transport.send(records)
            self._retrier.record(reply)
            if reply.delivered:
                self.delivered += len(records)
                if retries:
                    log.info("sink '%s': delivered again after %d retr%s", self.name, retries, "y" if retries == 1 else "ies")
                return
            self._last_error = reply.detail
            if not reply.retryable:
                await self._dead_letter(records, reply)
                return
            retries += 1
            self.retries += 1
            delay = self._retrier.delay(reply)
            log.log(
                logging.WARNING if retries == 1 else logging.DEBUG,
                "sink '%s': %s; retry %d of %d result(s) in %.1fs, they wait in spool %s",
                self.name,
                reply.detail,
                retries,
                len(records),
                delay,
                self.directory,
            )
            await self._retrier.wait(delay, reply)

    async def _dead_letter(self, records: list[SpoolRecord], reply: Reply) -> None:
        while True:  # the records stay unacknowledged in the spool until they are written here
            try:
                await self._io(write_dead_letters, self.dead_letter_path, self.name, records, reply)
                break
            except SinkError as exc:
                self.faults.failed(exc, self.dead_letter_path)
                await asyncio.sleep(self.faults.delay())
        self.dead_lettered += len(records)
        log.error(
            "sink '%s': %s; %d result(s) refused for good, written to %s (delivery goes on)",
            self.name,
            reply.detail,
            len(records),
            self.dead_letter_path,
        )

    async def _sync_loop(self) -> None:
        """The `interval` fsync policy's timer: the last appends before a pause get synced too."""
        assert self._spool is not None
        interval = self.options.spool.fsync_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            if self._spool.needs_sync:
                await self._io(self._spool.sync)

    async def _wait_drained(self, timeout: float) -> bool:
        sender = self._tasks[0] if self._tasks else None
        if sender is None or sender.done():
            return self.backlog == 0
        drained = asyncio.ensure_future(self._drained.wait())
        await asyncio.wait([drained, sender], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        drained.cancel()
        return self.backlog == 0


def _dropped_note(by_reason: Mapping[str, int]) -> str | None:
    """`12 result(s) dropped (spool_full: 2, disk_full: 10)`; None when none were."""
    counted = {reason: n for reason, n in by_reason.items() if n}
    if not counted:
        return None
    reasons = ", ".join(f"{reason}: {n}" for reason, n in counted.items())
    return f"{sum(counted.values())} result(s) dropped ({reasons})"
