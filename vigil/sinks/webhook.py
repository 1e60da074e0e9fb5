"""Webhook: results POSTed as JSON to a URL, through a durable on-disk spool.

`publish` only appends to the spool (on the spool's own thread) and returns; a sender task
reads the spool in order and POSTs, one request at a time, so results of a source arrive in
frame order. Delivery is at least once: retried with backoff until the receiver answers 2xx,
kept on disk across restarts, and every result carries a stable `id` for deduplication.
Request format, headers and signature: docs/OUTPUT.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import aiohttp

from vigil.engine.detections import Detections
from vigil.errors import ConfigError, SinkError
from vigil.result import InferenceResult, Predictions
from vigil.sinks._delivery import Reply, Retrier, RetryTimings, WebhookOptions, write_dead_letters
from vigil.sinks._http import Backoff, display_url, redactor, split_credentials
from vigil.sinks.base import Sink, SinkHealth
from vigil.sinks.filters import ResultFilter
from vigil.sinks.records import header_to_record, record_header
from vigil.sinks.spool import FsyncPolicy, Spool, SpoolRecord

__all__ = ["Backoff", "SCHEMA", "WebhookOptions", "WebhookSink", "read_secret_file", "result_id"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

SCHEMA = "vigil.webhook/1"
DEAD_LETTER_FILE = "dead-letter.jsonl"
_ID_NAMESPACE = uuid.UUID("5f0c52f4-2d0e-4c8e-9a55-0d7d1f7a3c11")
_ID_PREFIX = re.compile(rb'^\{"id":"([0-9a-f-]{36})"')
_NEAR_CAP = 0.9  # a spool this full is unhealthy: at the cap the oldest results are dropped


def read_secret_file(path: str | Path) -> bytes:
    """The signing secret in `path`, surrounding whitespace stripped (files end with a newline)."""
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"webhook secret file {path}: cannot read it ({exc.strerror}); check the path") from exc
    if not secret:
        raise ConfigError(f"webhook secret file {path} is empty; write the shared secret into it")
    return secret


def result_id(header: Mapping[str, Any]) -> str:
    """A UUID that names one result: the same model, source, frame and capture time give the
    same id, so a result resent after a restart carries the id it had the first time."""
    name = f"{header['model']}\n{header['source']}\n{header['seq']}\n{header['capture_time']}"
    return str(uuid.uuid5(_ID_NAMESPACE, name))


class WebhookSink(Sink):
    """POSTs results to `url`, keeping them in a spool under `spool_dir` until delivered.

        sink = WebhookSink("https://hooks.example/vigil", "/var/lib/vigil/spool",
                           options=WebhookOptions(secret=b"s3cret"),
                           filter=ResultFilter(only_with_detections=True))

    Counters for metrics: `delivered`, `retries`, `dead_lettered` and `filtered` (results),
    `backlog` (results in the spool) and `dropped_records` (lost to the spool's size cap).
    `health()` is not ok while delivery has failed for `unhealthy_after_s`, the spool is near
    its cap, or sending stopped.
    """

    def __init__(
        self,
        url: str,
        spool_dir: str | Path,
        *,
        options: WebhookOptions | None = None,
        filter: ResultFilter | None = None,
    ) -> None:
        self.options = options or WebhookOptions()
        self.spool_dir = Path(spool_dir)
        self.dead_letter_path = self.spool_dir / DEAD_LETTER_FILE
        self._filter = filter
        self._url, self._login, secrets = split_credentials(url)
        self._redact = redactor([*secrets, *self._secret_values()])
        self.name = f"webhook:{display_url(self._url)}"
        if self._url.scheme not in ("http", "https") or not self._url.host:
            raise ConfigError(f"sink '{self.name}': the webhook URL must be http:// or https:// with a host")
        if self._login and any(k.lower() == "authorization" for k in self.options.headers):
            raise ConfigError(f"sink '{self.name}': credentials in the URL and an Authorization header; give one of them")
        self.delivered = self.retries = self.dead_lettered = self.filtered = 0
        self._spool: Spool | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        o = self.options
        self._retrier = Retrier(RetryTimings(o.backoff, o.max_retry_after_s, o.probe_after_s, o.probe_interval_s), self._probe)
        self._pending_bytes = 0  # undelivered bytes, read on the spool's thread after every change
        self._stopped: str | None = None  # why the sender stopped, if it did

    @property
    def backlog(self) -> int:
        return self._spool.backlog if self._spool is not None else 0

    @property
    def dropped_records(self) -> int:
        return self._spool.dropped_records if self._spool is not None else 0

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="vigil-spool")
        try:
            self._spool = await self._io(Spool, self.spool_dir, self.options.spool)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        if self._spool.backlog == 0:
            self._drained.set()
        self._pending_bytes = self._spool.pending_bytes
        timeout = aiohttp.ClientTimeout(total=self.options.request_timeout_s, sock_connect=self.options.connect_timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout, headers={**self.options.headers, **self._login})
        self._tasks = [asyncio.create_task(self._send_loop(), name=f"sink-{self.name}")]
        if self.options.spool.fsync is FsyncPolicy.INTERVAL:
            self._tasks.append(asyncio.create_task(self._sync_loop(), name=f"sink-{self.name}-fsync"))

    async def publish(self, result: InferenceResult) -> None:
        if self._spool is None or not self._tasks:
            raise SinkError(f"sink '{self.name}' is not running; results are published between start() and close()")
        if self._filter is not None:
            kept = self._filter.apply(result)
            if kept is None:
                self.filtered += 1
                return
            result = kept
        # The header is read from the frame here, so the frame (image included) is not held;
        # the detections become JSON on the spool's thread.
        await self._io(self._append, record_header(result), result.detections)
        self._drained.clear()
        self._wakeup.set()

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every published result is delivered or dead-lettered, at most `timeout`
        seconds (default: the `flush_timeout_s` option). What is left stays in the spool."""
        limit = self.options.flush_timeout_s if timeout is None else timeout
        if not await self._wait_drained(limit):
            # close() warns about what is finally left; this says why the wait ended.
            log.info("sink '%s': %d result(s) still undelivered after waiting %.1fs", self.name, self.backlog, limit)

    async def close(self) -> None:
        """Stop sending after at most `close_grace_s`; undelivered results stay on disk."""
        if self._tasks:
            await self._wait_drained(self.options.close_grace_s)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._spool is not None:
            left = self._spool.backlog
            await self._io(self._spool.close)
            self._spool = None
            if left:
                log.warning(
                    "sink '%s': %d undelivered result(s) kept in spool %s; they are sent after the next start with it",
                    self.name, left, self.spool_dir,
                )
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    # -- the spool's thread -------------------------------------------------------------------

    async def _io(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` on the spool's single thread: every spool call is serialised there."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def _append(self, header: dict[str, Any], dets: Predictions) -> None:
        assert self._spool is not None
        record = {"id": result_id(header), **header_to_record(header, dets)}
        self._spool.append(json.dumps(record, separators=(",", ":")).encode())
        self._pending_bytes = self._spool.pending_bytes

    def _ack(self, records: list[SpoolRecord]) -> None:
        assert self._spool is not None
        self._spool.ack(records)
        self._pending_bytes = self._spool.pending_bytes

    # -- the sender ---------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        assert self._spool is not None
        try:
            while True:
                batch = await self._next_batch()
                await self._deliver(batch)
                await self._io(self._ack, batch)
                if self._spool.backlog == 0:
                    self._drained.set()
        except SinkError as exc:
            self._stopped = self._redact(str(exc))
            log.error("%s; sending stopped, results stay in the spool", exc)
        except Exception as exc:  # a bug: say so loudly instead of dying silently in a task
            self._stopped = f"the sender failed ({type(exc).__name__})"
            log.exception("sink '%s': the sender failed; sending stopped, results stay in spool %s", self.name, self.spool_dir)

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
        """POST `records` until the receiver takes them (2xx) or refuses them for good (other
        4xx: dead-lettered). Anything else is retried, for as long as it takes, with the same
        body and `Idempotency-Key`."""
        ids = [_record_id(r.payload, self.spool_dir) for r in records]
        body = b'{"schema":"' + SCHEMA.encode() + b'","results":[' + b",".join(r.payload for r in records) + b"]}"
        key = ids[0] if len(ids) == 1 else hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        retries = 0
        while True:
            reply = await self._post(body, key)
            self._retrier.record(reply)
            if reply.delivered:
                self.delivered += len(records)
                if retries:
                    log.info("sink '%s': delivered again after %d retr%s", self.name, retries, "y" if retries == 1 else "ies")
                return
            if not reply.retryable:
                await self._dead_letter(records, reply)
                return
            retries += 1
            self.retries += 1
            delay = self._retrier.delay(reply)
            log.log(
                logging.WARNING if retries == 1 else logging.DEBUG,
                "sink '%s': %s; retry %d of %d result(s) in %.1fs, they wait in spool %s",
                self.name, reply.detail, retries, len(records), delay, self.spool_dir,
            )
            await self._retrier.wait(delay, reply)

    async def _post(self, body: bytes, key: str) -> Reply:
        assert self._session is not None
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Vigil-Timestamp": timestamp, "Idempotency-Key": key}
        if self.options.secret is not None:
            digest = hmac.new(self.options.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers["X-Vigil-Signature"] = f"sha256={digest}"
        try:
            async with self._session.post(self._url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    await response.read()  # drained, so the connection is reused
                    return Reply(response.status, "ok")
                text = (await response.content.read(300)).decode("utf-8", "replace").strip()
                detail = f"HTTP {response.status} {response.reason or ''}".rstrip() + (f": {text}" if text else "")
                return Reply(response.status, self._redact(detail), response.headers.get("Retry-After"))
        except asyncio.TimeoutError as exc:
            if type(exc).__name__ == "ConnectionTimeoutError":  # aiohttp >= 3.10 tells it apart
                return Reply(None, f"no connection within {self.options.connect_timeout_s:g}s")
            return Reply(None, f"no answer within {self.options.request_timeout_s:g}s")
        except aiohttp.ClientError as exc:
            return Reply(None, self._redact(f"{type(exc).__name__}: {exc}"))

    async def _probe(self) -> bool:
        """A HEAD request, no body: True when the receiver answers with anything but 5xx, 408 or
        429 (a 405 or 404 too: something listens and routes requests again)."""
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=min(self.options.connect_timeout_s, self.options.request_timeout_s))
        try:
            async with self._session.head(self._url, allow_redirects=False, timeout=timeout) as response:
                return not Reply(response.status, "").retryable
        except (asyncio.TimeoutError, aiohttp.ClientError):
            return False

    def health(self) -> SinkHealth:
        """Not ok while delivery has failed for `unhealthy_after_s`, the spool is near its cap, or
        sending stopped; reasons name the receiver's last answer and what waits."""
        waiting = f"{self.backlog} result(s) waiting in the spool"
        if self._stopped is not None:
            return SinkHealth(False, f"sending stopped: {self._stopped}; {waiting}")
        cap, segment = self.options.spool.max_bytes, self.options.spool.segment_bytes
        dropped = f"{self.dropped_records} dropped at the cap so far" if self.dropped_records else "none dropped yet"
        # Reaching the cap drops a whole segment: with few segments the spool is then far below
        # 90%, so "near" is also within one and a half segments of the cap.
        if self._spool is not None and self._pending_bytes >= min(_NEAR_CAP * cap, cap - 1.5 * segment):
            return SinkHealth(False, f"spool {self._pending_bytes / cap:.0%} full (cap {cap / 2**20:g} MiB), {waiting}, {dropped}")
        failing_for, last = self._retrier.failing_for(), self._retrier.last_failure
        if failing_for is not None and last is not None and failing_for >= self.options.unhealthy_after_s:
            state = "unreachable" if last.status is None else f"answering HTTP {last.status}"
            return SinkHealth(False, f"receiver {state} for {failing_for:.0f} s ({last.detail}), {waiting}")
        return SinkHealth(True, f"{self.dropped_records} result(s) dropped at the spool cap" if self.dropped_records else None)

    async def _dead_letter(self, records: list[SpoolRecord], reply: Reply) -> None:
        await self._io(write_dead_letters, self.dead_letter_path, self.name, records, reply)
        self.dead_lettered += len(records)
        log.error(
            "sink '%s': %s; %d result(s) refused for good, written to %s (delivery goes on)",
            self.name, reply.detail, len(records), self.dead_letter_path,
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

    def _secret_values(self) -> list[str]:
        values = [self.options.secret.decode("utf-8", "replace")] if self.options.secret else []
        for value in self.options.headers.values():
            values += [value, *value.split()[1:]]  # "Bearer TOKEN": the token alone too
        return values


def _record_id(payload: bytes, spool_dir: Path) -> str:
    # `_append` writes the id first, so it is read without parsing a record that may be large.
    match = _ID_PREFIX.match(payload)
    if match is None:
        raise SinkError(
            f"spool {spool_dir} holds a record that does not start with its id; it was not written by this "
            "vigil version: deliver or move its files, then start again"
        )
    return match.group(1).decode()
