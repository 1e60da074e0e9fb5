"""Webhook: results POSTed as JSON to a URL, through a durable on-disk spool.

`publish` only appends to the spool and returns; the spool, the ordered sender, retries,
probes and dead letters are `vigil.sinks.durable.DurableSender`'s, which this sink feeds with
one HTTP attempt at a time (`send`) and a HEAD probe (`probe`). Results of a source arrive in
frame order. Delivery is at least once: retried with backoff until the receiver answers 2xx,
kept on disk across restarts, and every result carries a stable `id` for deduplication.
Request format, headers and signature: docs/OUTPUT.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from vigil.config.sinks import spool_directory
from vigil.errors import ConfigError, SinkError
from vigil.events import Event, run_id
from vigil.redact import redactor
from vigil.result import InferenceResult, Predictions
from vigil.sinks._delivery import Reply, RetryTimings, WebhookOptions, probe_says_up
from vigil.sinks._http import Backoff, display_url, split_credentials
from vigil.sinks.base import Sink, SinkHealth, SinkStats
from vigil.sinks.durable import DeliveryOptions, DurableSender
from vigil.sinks.records import header_to_record, record_header
from vigil.sinks.spool import SpoolOptions, SpoolRecord

if TYPE_CHECKING:
    from vigil.config.sinks import WebhookSinkConfig
    from vigil.sinks.registry import SinkContext

__all__ = [
    "Backoff",
    "SCHEMA",
    "WebhookOptions",
    "WebhookSink",
    "make_webhook_sink",
    "read_secret_file",
    "result_id",
    "webhook_options",
]

SCHEMA = "vigil.webhook/1"
_ID_PREFIX = re.compile(rb'^\{"id":"([0-9a-f-]{36})"')
_ID_END = len(b'{"id":"') + 36 + 1  # where a spool record's first key after its id begins
_EVENT_MARK = b',"record":"event"'
_WHSEC = b"whsec_"


def read_secret_file(path: str | Path, signing: str = "vigil") -> bytes:
    """The signing secret in `path`, surrounding whitespace stripped (files end with a newline);
    for `standard` signing, the key a `whsec_<base64>` secret holds (`standard_key`)."""
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"webhook secret file {path}: cannot read it ({exc.strerror}); check the path") from exc
    if not secret:
        raise ConfigError(f"webhook secret file {path} is empty; write the shared secret into it")
    return standard_key(secret, path) if signing == "standard" else secret


def standard_key(secret: bytes, path: str | Path) -> bytes:
    """The HMAC key of a Standard Webhooks secret: `whsec_` then the base64 of 24 to 64 random
    bytes (https://www.standardwebhooks.com)."""
    make = "make one with: echo whsec_$(head -c 32 /dev/urandom | base64)"
    if not secret.startswith(_WHSEC):
        raise ConfigError(f"webhook secret file {path}: signing: standard needs a secret of the form whsec_<base64>; {make}")
    try:
        key = base64.b64decode(secret[len(_WHSEC) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"webhook secret file {path}: what follows whsec_ is not base64; {make}") from None
    if not 24 <= len(key) <= 64:
        raise ConfigError(
            f"webhook secret file {path}: the whsec_ secret holds {len(key)} bytes, Standard Webhooks wants 24 to 64; {make}"
        )
    return key


def result_id(header: Mapping[str, Any]) -> str:
    """A UUID that names one result of this process: its model, source, frame and capture time
    under the process's random `run_id`, so every sink gives a result the same id and a new run
    never reuses one (frame numbers restart at 0). A record resent from the spool, after a
    restart too, keeps the id written into it when it was spooled."""
    name = f"{header['model']}\n{header['source']}\n{header['seq']}\n{header['capture_time']}"
    return str(uuid.uuid5(run_id(), name))


class WebhookSink(Sink):
    """POSTs results to `url`, keeping them in a spool under `spool_dir` until delivered.

        sink = WebhookSink("https://hooks.example/vigil", "/var/lib/vigil/spool",
                           options=WebhookOptions(secret=b"s3cret"), name="alerts")

    Counters for metrics: `delivered`, `retries` and `dead_lettered` (results), `backlog`
    (results in the spool) and `dropped_records` (lost to the spool's size cap); `stats()`.
    `health()` is not ok while delivery has failed for `unhealthy_after_s`, the spool is near
    its cap, or sending stopped.
    """

    kind = "webhook"

    def __init__(self, url: str, spool_dir: str | Path, *, options: WebhookOptions | None = None, name: str = "webhook") -> None:
        self.options = o = options or WebhookOptions()
        self.spool_dir = Path(spool_dir)
        self._url, self._login, secrets = split_credentials(url)
        self._redact = redactor([*secrets, *self._secret_values()])
        self.name = name
        where = f"sink '{name}' ({display_url(self._url)})"
        if self._url.scheme not in ("http", "https") or not self._url.host:
            raise ConfigError(f"{where}: the webhook URL must be http:// or https:// with a host")
        if self._login and any(k.lower() == "authorization" for k in o.headers):
            raise ConfigError(f"{where}: credentials in the URL and an Authorization header; give one of them")
        timings = RetryTimings(o.backoff, o.max_retry_after_s, o.probe_after_s, o.probe_interval_s)
        delivery = DeliveryOptions(
            o.batch_max, o.batch_linger_ms, timings, o.unhealthy_after_s, o.flush_timeout_s, o.close_grace_s, o.spool
        )
        self._sender = DurableSender(name, self.spool_dir, delivery, self, self._redact)
        self._session: aiohttp.ClientSession | None = None

    # The sender's counters, for tests and bench/sinks.py; metrics read `stats()`.
    @property
    def delivered(self) -> int:
        return self._sender.delivered

    @property
    def retries(self) -> int:
        return self._sender.retries

    @property
    def dead_lettered(self) -> int:
        return self._sender.dead_lettered

    @property
    def backlog(self) -> int:
        return self._sender.backlog

    @property
    def dropped_records(self) -> int:
        return self._sender.dropped_records

    @property
    def dead_letter_path(self) -> Path:
        return self._sender.dead_letter_path

    async def start(self) -> None:
        self._sender.name = self.name  # the name may be set after construction (the registry does)
        timeout = aiohttp.ClientTimeout(total=self.options.request_timeout_s, sock_connect=self.options.connect_timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout, headers={**self.options.headers, **self._login})
        try:
            await self._sender.start()
        except BaseException:
            await self._session.close()
            self._session = None
            raise

    async def publish(self, result: InferenceResult) -> None:
        # The header is read from the frame here, so the frame (image included) is not held;
        # the detections become JSON on the spool's thread.
        await self._sender.append(partial(_encode, record_header(result), result.detections))

    async def publish_event(self, event: Event) -> None:
        """Spooled in order with the results; delivered in the body's `events` array."""
        await self._sender.append(partial(_encode_event, event.to_record()))

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every published result is delivered or dead-lettered, at most `timeout`
        seconds (default: the `flush_timeout_s` option). What is left stays in the spool."""
        await self._sender.flush(timeout)

    async def close(self) -> None:
        """Stop sending after at most `close_grace_s`; undelivered results stay on disk."""
        await self._sender.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def health(self) -> SinkHealth:
        return self._sender.health()

    def stats(self) -> SinkStats:
        return self._sender.stats()

    # -- the transport the durable sender calls -----------------------------------------------

    async def send(self, records: list[SpoolRecord]) -> Reply:
        """One POST of `records`; a retry sends the same body with the same `Idempotency-Key`."""
        ids = [_record_id(r.payload, self.spool_dir) for r in records]
        events = [r.payload for r in records if r.payload.startswith(_EVENT_MARK, _ID_END)]
        results = [r.payload for r in records if not r.payload.startswith(_EVENT_MARK, _ID_END)]
        body = b'{"schema":"' + SCHEMA.encode() + b'","results":[' + b",".join(results) + b"]"
        body += (b',"events":[' + b",".join(events) + b"]}") if events else b"}"
        key = ids[0] if len(ids) == 1 else hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        return await self._post(body, key)

    def _headers(self, body: bytes, key: str) -> dict[str, str]:
        """The request's headers: its key, the attempt's time and, with a secret, its signature,
        in vigil's scheme or Standard Webhooks' (whose `webhook-id` is the `Idempotency-Key`)."""
        timestamp, secret = str(int(time.time())), self.options.secret
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self.options.signing == "standard":
            headers.update({"webhook-id": key, "webhook-timestamp": timestamp})
            if secret is not None:
                mac = hmac.new(secret, f"{key}.{timestamp}.".encode() + body, hashlib.sha256).digest()
                headers["webhook-signature"] = "v1," + base64.b64encode(mac).decode()
            return headers
        headers["X-Vigil-Timestamp"] = timestamp
        if secret is not None:
            digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers["X-Vigil-Signature"] = f"sha256={digest}"
        return headers

    async def _post(self, body: bytes, key: str) -> Reply:
        assert self._session is not None
        headers = self._headers(body, key)
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

    async def probe(self) -> bool:
        """A HEAD request, no body: True when the receiver answers with anything but 502, 503
        or 504 (`probe_says_up`: a 501 or 405 from a receiver without HEAD too)."""
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=min(self.options.connect_timeout_s, self.options.request_timeout_s))
        try:
            async with self._session.head(self._url, allow_redirects=False, timeout=timeout) as response:
                return probe_says_up(response.status)
        except (asyncio.TimeoutError, aiohttp.ClientError):
            return False

    def _secret_values(self) -> list[str]:
        secret = self.options.secret
        values = [secret.decode("utf-8", "replace"), base64.b64encode(secret).decode()] if secret else []
        for value in self.options.headers.values():
            values += [value, *value.split()[1:]]  # "Bearer TOKEN": the token alone too
        return values


def _encode_event(record: dict[str, Any]) -> bytes:
    """An event's spool record: its id (a UUID) first, as results have, then
    `"record":"event"` at a fixed place, which `send` reads to put it in `events`."""
    return json.dumps(record, separators=(",", ":")).encode()


def _encode(header: dict[str, Any], dets: Predictions) -> bytes:
    """A spool record: the id first (`_record_id` reads it without parsing the record)."""
    record = {"id": result_id(header), **header_to_record(header, dets)}
    return json.dumps(record, separators=(",", ":")).encode()


async def make_webhook_sink(config: WebhookSinkConfig, context: SinkContext) -> WebhookSink:
    """The registry's factory for `kind: webhook`: the secret file is read off the event loop."""
    secret = await asyncio.to_thread(read_secret_file, config.secret_file, config.signing) if config.secret_file else None
    spool = spool_directory(config, context.name, os.environ)
    return WebhookSink(config.url, spool, options=webhook_options(config, secret), name=context.name)


def webhook_options(hook: WebhookSinkConfig, secret: bytes | None) -> WebhookOptions:
    """A webhook entry as the sink's options. Spool segments are a sixteenth of the cap (1 to 8
    MiB), so reaching the cap drops a small part of the backlog, not half of it."""
    cap = hook.spool_max_mb * 2**20
    return WebhookOptions(
        secret=secret,
        signing=hook.signing,
        request_timeout_s=hook.request_timeout_s,
        connect_timeout_s=hook.connect_timeout_s,
        backoff=Backoff(initial_s=hook.retry_initial_s, max_s=hook.retry_max_s),
        max_retry_after_s=hook.max_retry_after_s,
        probe_after_s=hook.probe_after_s,
        probe_interval_s=hook.probe_interval_s,
        unhealthy_after_s=hook.unhealthy_after_s,
        spool=SpoolOptions(segment_bytes=min(8 * 2**20, max(2**20, cap // 16)), max_bytes=cap),
    )


def _record_id(payload: bytes, spool_dir: Path) -> str:
    # `_append` writes the id first, so it is read without parsing a record that may be large.
    match = _ID_PREFIX.match(payload)
    if match is None:
        raise SinkError(
            f"spool {spool_dir} holds a record that does not start with its id; it was not written by this "
            "vigil version: deliver or move its files, then start again"
        )
    return match.group(1).decode()
