"""NATS JetStream: events and results published to a stream, through a durable on-disk spool.

`publish` only appends to the spool; `vigil.sinks.durable.DurableSender` delivers it in order and
hands each batch to `send`, which publishes its records one at a time to JetStream and waits for
each PubAck, so the records of a camera are stored in the order they were made. Every message
carries the record's id as `Nats-Msg-Id` (unique per record across runs: `vigil.events`): a
record sent again (a lost acknowledgement, a crash before the spool acked it) is dropped by the
stream's duplicate window, and such duplicate acknowledgements are counted (`stats().duplicates`)
and logged. The client library (nats-py, the `nats` extra) is imported when the sink starts;
the connection is made lazily and made again when the client gives up reconnecting. Subjects
and payloads: docs/OUTPUT.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.config.files import read_password_file, read_token_file
from vigil.config.sinks import spool_directory
from vigil.errors import MissingDependencyError
from vigil.events import Event
from vigil.redact import redactor
from vigil.result import InferenceResult
from vigil.sinks._delivery import Reply, RetryTimings
from vigil.sinks._http import Backoff
from vigil.sinks._nats_wire import display, encode_event, encode_result, ensure_stream, record_meta, subject_token
from vigil.sinks.base import Sink, SinkHealth, SinkStats
from vigil.sinks.durable import DeliveryOptions, DurableSender
from vigil.sinks.records import record_header
from vigil.sinks.spool import SpoolOptions, SpoolRecord

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

    from vigil.config.sinks import NatsSinkConfig
    from vigil.sinks.registry import SinkContext

__all__ = ["NatsOptions", "NatsSink", "make_nats_sink"]

log = logging.getLogger(__name__)

# How the client reconnects by itself after losing a server: every server of the list is tried
# this many times, half a second apart, before it gives up; the next send then connects anew.
_RECONNECT_ATTEMPTS = 5
_RECONNECT_WAIT_S = 0.5
_DUPLICATES_LOG_EVERY_S = 60.0  # duplicate acknowledgements are logged at most this often


@dataclass(frozen=True)
class NatsOptions:
    """How the NATS sink connects and publishes; the password and token are never shown."""

    servers: tuple[str, ...]
    subject_prefix: str = "vigil"
    stream: str = "VIGIL"
    create_stream: bool = True
    replicas: int = 1
    max_age_s: float = 7 * 86_400.0
    duplicate_window_s: float = 120.0
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    credentials_file: str | None = None
    tls: ssl.SSLContext | None = field(default=None, repr=False)
    connect_timeout_s: float = 5.0
    publish_timeout_s: float = 5.0
    delivery: DeliveryOptions = field(default_factory=DeliveryOptions)


class NatsSink(Sink):
    """Publishes events and results to JetStream, keeping them in a spool under `spool_dir`
    until the stream acknowledged them.

        sink = NatsSink(NatsOptions(("nats://127.0.0.1:4222",)), "/var/lib/vigil/nats", name="fleet")

    `health()` is not ok while the server refuses the credentials, while delivery
    has failed for `unhealthy_after_s`, or when the spool is near its cap.
    """

    kind = "nats"

    def __init__(self, options: NatsOptions, spool_dir: str | Path, *, name: str = "nats") -> None:
        self.options, self.spool_dir, self.name = options, Path(spool_dir), name
        self._redact = redactor([s for s in (options.password, options.token) if s])
        self._sender = DurableSender(name, self.spool_dir, options.delivery, self, self._redact)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()
        self._refused: str | None = None  # the server refused the credentials
        self._refusal_seen = asyncio.Event()  # set while _refused is
        self._last_error: str | None = None  # the client's latest connection error
        self._acked: set[str] = set()  # ids of the current batch JetStream has stored
        self._subjects: dict[tuple[str, bool], str] = {}
        self.duplicates = 0  # messages the stream reported as duplicates (stored before)
        self._duplicates_logged = (0, float("-inf"))  # (count, monotonic time) at the last warning

    @property
    def delivered(self) -> int:
        return self._sender.delivered

    @property
    def backlog(self) -> int:
        return self._sender.backlog

    @property
    def connected_url(self) -> str | None:
        """The server the sink is connected to now (nats://HOST:PORT), None while it is not."""
        return display(self._nc) if self._nc is not None and self._nc.is_connected else None

    async def start(self) -> None:
        _import_nats()
        self._sender.name = self.name
        await self._sender.start()

    async def publish(self, result: InferenceResult) -> None:
        await self._sender.append(partial(encode_result, record_header(result), result.detections))

    async def publish_event(self, event: Event) -> None:
        await self._sender.append(partial(encode_event, event.to_record()))

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until JetStream has every record, at most `timeout` seconds (default: the
        delivery's `flush_timeout_s`); at once while the server refuses the credentials."""
        flushing = asyncio.ensure_future(self._sender.flush(timeout))
        refused = asyncio.ensure_future(self._refusal_seen.wait())
        try:
            await asyncio.wait([flushing, refused], return_when=asyncio.FIRST_COMPLETED)
        finally:
            flushing.cancel()
            refused.cancel()
        if self._refused is not None:
            log.info("sink '%s': not waiting for delivery: %s", self.name, self._refused)

    async def close(self) -> None:
        """Stop sending after at most `close_grace_s`; what JetStream has not acknowledged stays on disk."""
        await self._sender.close()
        async with self._lock:
            await self._drop_client()

    def health(self) -> SinkHealth:
        if self._refused is not None:
            return SinkHealth(False, f"{self._refused}; {self._sender.backlog} record(s) waiting in the spool")
        return self._sender.health()

    def stats(self) -> SinkStats:
        return replace(self._sender.stats(), duplicates=self.duplicates)

    # -- the transport the durable sender calls -----------------------------------------------

    async def send(self, records: list[SpoolRecord]) -> Reply:
        """Publish `records` in order, each awaiting its PubAck; a failure ends the attempt (the
        sender retries the batch; records already stored are skipped)."""
        problem = await self._connect()
        if problem is not None:
            return Reply(None, problem)
        assert self._nc is not None and self._js is not None
        for record in records:
            meta = record_meta(self.spool_dir, record)
            msg_id = meta["id"]
            if msg_id in self._acked:
                continue
            if not self._nc.is_connected:
                return Reply(None, "disconnected from the NATS server; the client is reconnecting")
            subject = self._subject(meta["source"], meta.get("record") == "event")
            reply = await self._publish(subject, record.payload, msg_id)
            if reply is not None:
                return reply
            self._acked.add(msg_id)
        self._acked.clear()
        return Reply(200, "ok")

    async def _publish(self, subject: str, payload: bytes, msg_id: str) -> Reply | None:
        import nats.errors
        import nats.js.errors

        assert self._js is not None
        timeout = self.options.publish_timeout_s
        try:
            ack = await self._js.publish(subject, payload, timeout=timeout, headers={"Nats-Msg-Id": msg_id})
        except asyncio.TimeoutError:  # nats.errors.TimeoutError is one too
            seen = f" (the client's last error: {self._last_error})" if self._last_error else ""
            return Reply(None, f"JetStream did not acknowledge {subject} within {timeout:g}s{seen}")
        except nats.js.errors.NoStreamResponseError:
            return Reply(
                None,
                f"no JetStream stream stores {subject}; check that the server runs JetStream and that "
                f"stream '{self.options.stream}' takes subjects {self.options.subject_prefix}.>",
            )
        except nats.errors.MaxPayloadError:
            return Reply(
                413, f"record {msg_id} is larger than the server's max_payload; raise max_payload or filter the sink's results"
            )
        except nats.js.errors.APIError as exc:
            return Reply(None, self._redact(f"JetStream refused {subject}: {exc.description or exc}"))
        except (nats.errors.Error, OSError) as exc:
            return Reply(None, self._redact(f"publishing to {subject} failed ({type(exc).__name__}: {exc})"))
        if ack.duplicate:
            self._duplicate(msg_id)
        return None

    def _duplicate(self, msg_id: str) -> None:
        """JetStream stored a message with this id within its duplicate window, so it dropped
        this one: a resend (a lost acknowledgement, a crash before the spool forgot it) or, were
        ids ever reused, a lost record. Counted, and logged at most once a minute."""
        self.duplicates += 1
        logged, when = self._duplicates_logged
        now = time.monotonic()
        if now - when >= _DUPLICATES_LOG_EVERY_S:
            log.warning(
                "sink '%s': JetStream acknowledged record %s as a duplicate and did not store it again (%d duplicate(s) "
                "since the last such message, %d since start); expected for records resent after a lost "
                "acknowledgement or a restart",
                self.name,
                msg_id,
                self.duplicates - logged,
                self.duplicates,
            )
            self._duplicates_logged = (self.duplicates, now)

    async def probe(self) -> bool:
        """True once connected and JetStream answers an account-info request."""
        if await self._connect() is not None:
            return False
        assert self._js is not None
        try:
            await asyncio.wait_for(self._js.account_info(), self.options.connect_timeout_s)
        except Exception:  # noqa: BLE001 - any failure means "not answering"
            return False
        return True

    def _subject(self, source: str, event: bool) -> str:
        key = (source, event)
        subject = self._subjects.get(key)
        if subject is None:
            kind = "events" if event else "results"
            subject = self._subjects[key] = f"{self.options.subject_prefix}.{subject_token(source)}.{kind}"
        return subject

    # -- the connection ---------------------------------------------------------------------

    async def _connect(self) -> str | None:
        """Connected (None), or why not. A client still reconnecting by itself is left to it."""
        async with self._lock:
            nc = self._nc
            if nc is not None and nc.is_connected:
                return None
            if nc is not None and not nc.is_closed:
                return f"disconnected from the NATS server; reconnecting ({self._last_error or 'no answer'})"
            await self._drop_client()
            return await self._open()

    async def _open(self) -> str | None:
        import nats

        self._last_error = None
        try:
            nc = await nats.connect(**self._connect_options())
        except Exception as exc:  # noqa: BLE001 - the client raises many kinds; each is one failed attempt
            return self._refusal(self._last_error or f"{type(exc).__name__}: {exc}")
        js = nc.jetstream(timeout=self.options.connect_timeout_s)
        problem = await ensure_stream(self.name, self.options, js)
        if problem is not None:
            await nc.close()
            return problem
        self._nc, self._js, self._refused = nc, js, None
        self._refusal_seen.clear()
        log.info("sink '%s': connected to NATS %s", self.name, display(nc))
        return None

    def _refusal(self, detail: str) -> str:
        """The message of a failed connection; credentials refused make the sink unhealthy at once."""
        detail = self._redact(detail)
        if "authorization" in detail.lower() or "authentication" in detail.lower():
            message = (
                f"the NATS server refused the credentials ({detail}); check user and password_file, "
                "token_file or credentials_file"
            )
            if self._refused != message:
                log.error("sink '%s': %s", self.name, message)
            self._refused = message
            self._refusal_seen.set()
            return message
        return f"cannot connect to NATS {', '.join(self.options.servers)} ({detail})"

    def _connect_options(self) -> dict[str, Any]:
        o = self.options
        options: dict[str, Any] = {
            "servers": list(o.servers),
            "name": f"vigil-{self.name}",
            "connect_timeout": o.connect_timeout_s,
            "allow_reconnect": True,
            "max_reconnect_attempts": _RECONNECT_ATTEMPTS,
            "reconnect_time_wait": _RECONNECT_WAIT_S,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
        }
        if o.user is not None:
            options.update(user=o.user, password=o.password)
        if o.token is not None:
            options["token"] = o.token
        if o.credentials_file is not None:
            options["user_credentials"] = o.credentials_file
        if o.tls is not None:
            options["tls"] = o.tls
        return options

    async def _drop_client(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception:  # closing a broken connection may fail; it is gone either way
                log.debug("sink '%s': closing the NATS connection failed", self.name, exc_info=True)

    async def _on_error(self, exc: Exception) -> None:
        self._last_error = self._redact(f"{type(exc).__name__}: {exc}".rstrip(": "))
        log.debug("sink '%s': NATS client: %s", self.name, self._last_error)

    async def _on_disconnected(self) -> None:
        if self._nc is None:  # a connection being closed on purpose, or one that never served
            return
        log.info("sink '%s': disconnected from NATS; records wait in spool %s", self.name, self.spool_dir)

    async def _on_reconnected(self) -> None:
        if self._nc is not None:
            log.info("sink '%s': reconnected to NATS %s", self.name, display(self._nc))


def _import_nats() -> None:
    try:
        import nats  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "the nats sink needs nats-py, which is not installed; install it with pip install 'vigil-analytics[nats]'"
        ) from exc


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def _read_secrets(config: NatsSinkConfig) -> tuple[str | None, str | None, ssl.SSLContext | None]:
    password = read_password_file(config.password_file) if config.password_file else None
    token = read_token_file(config.token_file) if config.token_file else None
    tls = config.tls or any(url.startswith("tls://") for url in config.servers)
    return password, token, _tls_context(config.ca_file) if tls else None


async def make_nats_sink(config: NatsSinkConfig, context: SinkContext) -> NatsSink:
    """The registry's factory for `kind: nats`: the password, token and CA files are read off the event loop."""
    password, token, tls = await asyncio.to_thread(_read_secrets, config)
    cap = config.spool_max_mb * 2**20
    timings = RetryTimings(
        Backoff(initial_s=config.retry_initial_s, max_s=config.retry_max_s),
        probe_after_s=config.probe_after_s,
        probe_interval_s=config.probe_interval_s,
    )
    delivery = DeliveryOptions(
        timings=timings,
        unhealthy_after_s=config.unhealthy_after_s,
        spool=SpoolOptions(segment_bytes=min(8 * 2**20, max(2**20, cap // 16)), max_bytes=cap),
    )
    options = NatsOptions(
        servers=tuple(config.servers),
        subject_prefix=config.subject_prefix,
        stream=config.stream,
        create_stream=config.create_stream,
        replicas=config.replicas,
        max_age_s=config.max_age_days * 86_400,
        duplicate_window_s=config.duplicate_window_s,
        user=config.user,
        password=password,
        token=token,
        credentials_file=config.credentials_file,
        tls=tls,
        connect_timeout_s=config.connect_timeout_s,
        publish_timeout_s=config.publish_timeout_s,
        delivery=delivery,
    )
    return NatsSink(options, spool_directory(config, context.name, os.environ), name=context.name)
