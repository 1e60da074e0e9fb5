"""MQTT: events (and results) to a broker, with retained state and Home Assistant discovery.

Events and results go through a `DurableSender` spool, like the webhook's: `publish` appends,
the sender publishes each batch in order (QoS 1 by default) to `PREFIX/<camera>/events` or
`.../results` and acknowledges the spool only once the broker acknowledged every message, so a
broker that is away loses nothing and a camera's records keep their order (a batch cut by a
lost connection is published again: at least once, deduplicate on `id`). Retained state (the
availability `PREFIX/status` with its last will, zone occupancy counts, the latest event
picture, discovery configs) is not spooled: the latest value wins, and all of it is published
again after every reconnection, so a restarted broker is never left stale. The daemon tells the
sink its cameras (`cameras`): each camera's retained state and Home Assistant entities follow
them, and what belonged to a camera or zone that went away is removed. Topics and payloads:
docs/OUTPUT.md, "MQTT".
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.events import Event
from vigil.redact import redactor
from vigil.result import InferenceResult
from vigil.sinks._delivery import Reply
from vigil.sinks._mqtt_client import (
    SEP,
    Connection,
    MqttOptions,
    check_tls,
    import_aiomqtt,
    mqtt_options,
    new_client,
    retained_messages,
    retrieved,
    spooled,
    watch,
)
from vigil.sinks._mqtt_discovery import Discovery, Entities, event_picture, safe_id, topic_level
from vigil.sinks.base import CameraStatus, Sink, SinkHealth, SinkStats
from vigil.sinks.durable import DurableSender
from vigil.sinks.records import header_to_record, record_header
from vigil.sinks.spool import SpoolRecord

if TYPE_CHECKING:
    import aiomqtt

    from vigil.config.sinks import MqttSinkConfig
    from vigil.sinks.registry import SinkContext

__all__ = ["MqttOptions", "MqttSink", "make_mqtt_sink", "mqtt_options"]

log = logging.getLogger(__name__)

_SWEEP_S = 0.5  # how long the retained messages of an earlier run are collected at the first connection
_LEFTOVER_WAIT_S = 10.0  # how long they wait for the daemon's set of cameras before being removed
_AUTH_CODES = {4, 5, 134, 135}  # 3.1.1: bad user name or password, not authorised; 5: the same


class MqttSink(Sink):
    """Publishes events and results to an MQTT broker, keeping them in a spool under
    `spool_dir` until the broker acknowledged them.

        sink = MqttSink(MqttOptions("broker.lan", username="vigil", password=pw), "/var/lib/vigil/mqtt",
                        name="mqtt")
    """

    kind = "mqtt"

    def __init__(self, options: MqttOptions, spool_dir: str | Path, *, name: str = "mqtt") -> None:
        self.options, self.spool_dir, self.name = options, Path(spool_dir), name
        self._redact = redactor([options.password] if options.password else [])
        self._sender = DurableSender(name, self.spool_dir, options.delivery, self, self._redact)
        self._conn: Connection | None = None
        self._connecting = asyncio.Lock()
        self._auth_error: str | None = None  # the broker refused the login: unhealthy at once
        self._retained: dict[str, bytes] = {}  # topic -> latest payload (b"": remove it)
        self._dirty: set[str] = set()  # retained topics the broker does not have yet
        self._dirty_set = asyncio.Event()
        self._entities: Entities | None = None  # cameras' and zones' retained state and entities, once started
        self._leftovers: dict[str, bytes] | None = None  # what an earlier run left retained, not settled yet
        self._leftovers_timer: asyncio.TimerHandle | None = None
        self._pictures: dict[str, Event] = {}  # the newest event picture waiting per camera
        self._tasks: list[asyncio.Task[Any]] = []
        self._drawing: dict[str, asyncio.Task[None]] = {}
        self._closing = False
        self._swept = False  # whether this run cleared what an earlier one left retained
        self._down_since: float | None = None  # since when no connection could be made
        self._last_failure: str | None = None

    @property
    def client_id(self) -> str:
        return self.options.client_id or f"vigil-{socket.gethostname()}-{self.name}"

    @property
    def delivered(self) -> int:
        return self._sender.delivered

    @property
    def backlog(self) -> int:
        return self._sender.backlog

    async def start(self) -> None:
        import_aiomqtt(self.name)
        self._sender.name = self.name  # the registry names the sink after construction
        o = self.options
        discovery = Discovery(o.topic_prefix, o.discovery_prefix, self.client_id, o.snapshots)
        self._entities = Entities(discovery, self._set_retained, announce=o.discovery)
        await self._sender.start()
        self._tasks = [asyncio.create_task(self._state_loop(), name=f"sink-{self.name}-state")]

    async def publish(self, result: InferenceResult) -> None:
        camera = result.frame.source_id
        if self._entities is not None:
            self._entities.see(camera)
        # The header is read here so the frame is not held; the detections become JSON on the spool's thread.
        header, dets = record_header(result), result.detections
        await self._sender.append(lambda: spooled(f"{topic_level(camera)}/results", header_to_record(header, dets)))

    async def publish_event(self, event: Event) -> None:
        record = event.to_record()
        await self._sender.append(lambda: spooled(f"{topic_level(event.source)}/events", record))
        if self._entities is None or event.source in self._entities.gone:
            return  # a removed camera's last frames, published after its removal: no retained state again
        self._entities.see(event.source)
        self._entities.count(event)
        if self.options.snapshots and event.frame is not None:
            self._pictures[event.source] = event
            if event.source not in self._drawing or self._drawing[event.source].done():
                self._drawing[event.source] = asyncio.create_task(self._draw_loop(event.source))

    async def cameras(self, cameras: Sequence[CameraStatus]) -> None:
        """Each camera's retained `PREFIX/<camera>/state` and entities; the retained topics and
        discovery configs of a camera no longer in the set, or of a zone no longer among its
        camera's zones, are removed (empty retained payloads)."""
        if self._entities is None or self._closing:
            return
        for camera in self._entities.tell(cameras):
            self._pictures.pop(camera, None)
            if (drawing := self._drawing.pop(camera, None)) is not None:
                drawing.cancel()
        self._settle_leftovers()

    async def flush(self, timeout: float | None = None) -> None:
        await self._sender.flush(timeout)

    async def close(self) -> None:
        """Deliver for at most `close_grace_s`, set the zone counts to 0, say `offline`,
        disconnect. Undelivered records stay on disk. Discovery configs, camera states and
        pictures stay retained: Home Assistant's convention is that `offline` makes the entities
        unavailable, and removing them would make them vanish and come back at every restart."""
        await self._sender.close()
        if self._entities is None:
            return  # never started: nothing was published
        tasks = [*self._drawing.values(), *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._closing = True
        if self._leftovers_timer is not None:
            self._leftovers_timer.cancel()
        for topic in self._entities.counts():
            self._set_retained(topic, b"0")  # nobody is counted any more
        self._set_retained(self._status_topic, b"offline")
        try:
            await asyncio.wait_for(self._push_retained(), self.options.connect_timeout_s)
        except (asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001 - the broker may be away; the will says offline
            log.info("sink '%s': could not clear its retained state on close (%s)", self.name, self._describe(exc))
        await self._disconnect()

    def health(self) -> SinkHealth:
        if self._auth_error is not None:
            return SinkHealth(False, self._auth_error)
        down = time.monotonic() - self._down_since if self._down_since is not None else 0.0
        if down >= self.options.delivery.unhealthy_after_s:
            return SinkHealth(False, f"no connection for {down:.0f} s ({self._last_failure}), {self.backlog} record(s) waiting")
        return self._sender.health()

    def stats(self) -> SinkStats:
        stats = self._sender.stats()
        return stats if self._auth_error is None else replace(stats, last_error=self._auth_error)

    # -- the transport the durable sender calls -----------------------------------------------

    async def send(self, records: list[SpoolRecord]) -> Reply:
        """Publish `records` in order and wait for every acknowledgement (PUBACK at QoS 1)."""
        if any(SEP not in record.payload[:300] for record in records):
            # Refused for good (dead-lettered), or the sender would retry it forever.
            return Reply(
                422, f"spool {self.spool_dir} holds records not written by an MQTT sink; give each sink its own spool_dir"
            )
        try:
            conn = await self._connection()
            prefix = self.options.topic_prefix
            published = []
            for record in records:
                where, _, payload = record.payload.partition(SEP)
                published.append(self._publish(conn, f"{prefix}/{where.decode()}", payload, retain=False))
            await self._until_lost(conn, asyncio.gather(*published))
        except Exception as exc:  # noqa: BLE001 - every failure is one failed attempt, retried
            return Reply(None, self._describe(exc))
        return Reply(200, "ok")

    async def probe(self) -> bool:
        """True when a connection to the broker is (or can be) made."""
        try:
            await self._connection()
        except Exception:  # noqa: BLE001
            return False
        return True

    # -- the connection -----------------------------------------------------------------------

    @property
    def _status_topic(self) -> str:
        return f"{self.options.topic_prefix}/status"

    async def _connection(self) -> Connection:
        async with self._connecting:
            if self._conn is not None and not self._conn.lost.done():
                return self._conn
            await self._disconnect()
            self._conn = await self._connect()
            return self._conn

    async def _connect(self) -> Connection:
        aiomqtt = import_aiomqtt(self.name)
        o = self.options
        if o.tls:
            await asyncio.to_thread(check_tls, o.host, o.port, o.ca_file, o.connect_timeout_s)
        client = new_client(aiomqtt, o, self.client_id, self._status_topic)
        try:
            await client.__aenter__()
        except aiomqtt.MqttCodeError as exc:
            self._refused(exc)
            raise
        if self._auth_error is not None:
            log.info("sink '%s': the broker accepted the login again", self.name)
        self._auth_error = None
        if not self._swept and not self._closing:
            try:
                await self._sweep(client)
            except Exception:
                await asyncio.gather(client.__aexit__(None, None, None), return_exceptions=True)
                raise
        lost = asyncio.create_task(watch(client), name=f"sink-{self.name}-connection")
        # Everything retained again: a broker restarted without persistence has none of it.
        self._set_retained(self._status_topic, b"offline" if self._closing else b"online")
        self._dirty |= set(self._retained)
        self._dirty_set.set()
        return Connection(client, lost)

    def _refused(self, exc: Exception) -> None:
        rc = getattr(exc, "rc", None)
        if int(getattr(rc, "value", rc) or 0) not in _AUTH_CODES:
            return
        who = f"user '{self.options.username}'" if self.options.username else "an anonymous client"
        message = (
            f"sink '{self.name}': the MQTT broker {self.options.host}:{self.options.port} refused the login of {who} "
            f"({exc}); check username and password_file, and the broker's ACL"
        )
        if message != self._auth_error:
            log.error("%s", self._redact(message))
        self._auth_error = self._redact(message)

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        conn.lost.cancel()
        try:
            await asyncio.wait_for(conn.client.__aexit__(None, None, None), self.options.connect_timeout_s)
        except Exception:  # noqa: BLE001 - it is gone either way
            pass

    async def _publish(self, conn: Connection, topic: str, payload: bytes, *, retain: bool) -> None:
        await conn.client.publish(topic, payload, qos=self.options.qos, retain=retain, timeout=self.options.publish_timeout_s)

    async def _until_lost(self, conn: Connection, work: asyncio.Future[Any]) -> None:
        """`work`, or an error as soon as the connection drops (a publish would wait for its
        acknowledgement until `publish_timeout_s` otherwise)."""
        try:
            done, _ = await asyncio.wait({work, conn.lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not work.done():
                work.cancel()
                work.add_done_callback(retrieved)  # its cancellation is not an error to report
        if work in done:
            work.result()
            return
        raise ConnectionError("the connection to the broker was lost")

    def _describe(self, exc: BaseException) -> str:
        where = f"{self.options.host}:{self.options.port}"
        text = str(exc) or type(exc).__name__
        return self._redact(f"MQTT broker {where}: {text}")

    # -- retained state -----------------------------------------------------------------------

    def _set_retained(self, topic: str, payload: bytes) -> None:
        self._retained[topic] = payload
        self._dirty.add(topic)
        self._dirty_set.set()

    async def _state_loop(self) -> None:
        """Keeps a connection (so `PREFIX/status` is `online` and a refused login shows even while
        no event comes), and publishes the retained topics that changed, the newest value of each."""
        failures = 0
        while True:
            try:
                await self._push_retained()
                conn = self._conn
                if conn is None:
                    continue
                if failures:
                    log.info("sink '%s': connected to the MQTT broker again", self.name)
                failures, self._down_since = 0, None
                changed = asyncio.ensure_future(self._dirty_set.wait())
                try:
                    await asyncio.wait({changed, conn.lost}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
            except Exception as exc:  # noqa: BLE001 - retried with backoff for as long as it takes
                failures += 1
                self._down_since = self._down_since or time.monotonic()
                self._last_failure = self._describe(exc)
                if failures == 1 and self._auth_error is None:
                    log.warning(
                        "sink '%s': %s; trying again, events wait in spool %s", self.name, self._last_failure, self.spool_dir
                    )
                await asyncio.sleep(self.options.delivery.timings.backoff.delay(failures))

    async def _sweep(self, client: aiomqtt.Client) -> None:
        """Collect what an earlier run left retained and this one has not said (counts of objects
        long gone, configs of cameras and zones that may be gone); `_settle_leftovers` decides."""
        node, prefix = safe_id(self.client_id), self.options.topic_prefix
        topics = [
            f"{prefix}/+/zones/#",
            f"{prefix}/+/state",
            f"{prefix}/+/snapshot",
            f"{self.options.discovery_prefix}/+/{node}/+/config",
        ]
        found = await retained_messages(client, topics, timeout_s=self.options.connect_timeout_s, listen_s=_SWEEP_S)
        self._leftovers = {t: p for t, p in found.items() if t not in self._retained}
        self._swept = True
        if self._entities is not None and self._entities.cameras is not None:
            self._settle_leftovers()
        else:  # a sink outside the daemon is never told its cameras: removed after a while, as before
            self._leftovers_timer = asyncio.get_running_loop().call_later(_LEFTOVER_WAIT_S, self._settle_leftovers)

    def _settle_leftovers(self) -> None:
        """Keep or remove what an earlier run left retained (`Entities.settle`), once."""
        leftovers, self._leftovers = self._leftovers, None
        if leftovers and self._entities is not None and not self._closing:
            self._entities.settle(leftovers, self._retained)

    async def _push_retained(self) -> None:
        self._dirty_set.clear()
        conn = await self._connection()
        while self._dirty:
            # The status first, discovery configs before the state they describe.
            topics = sorted(self._dirty, key=lambda t: (t != self._status_topic, "/config" not in t[-7:], t))
            self._dirty.difference_update(topics)
            try:
                sends = [self._publish(conn, t, self._retained[t], retain=True) for t in topics]
                await self._until_lost(conn, asyncio.gather(*sends))
            except BaseException:
                self._dirty.update(topics)
                raise
            for topic in topics:
                if self._retained.get(topic) == b"" and topic not in self._dirty:
                    del self._retained[topic]  # removed from the broker: nothing to republish

    async def _draw_loop(self, camera: str) -> None:
        """The newest event picture of `camera`, drawn and encoded on a worker thread; events
        that arrive meanwhile replace the waiting one (only the latest picture is kept)."""
        while camera in self._pictures:
            event = self._pictures.pop(camera)
            try:
                jpeg = await asyncio.to_thread(event_picture, event)
            except Exception as exc:  # noqa: BLE001 - a picture is not worth stopping the sink for
                log.warning("sink '%s': the picture of event %s was not encoded (%s)", self.name, event.event_id, exc)
                continue
            if self._entities is not None:
                self._entities.picture(camera, jpeg)


async def make_mqtt_sink(config: MqttSinkConfig, context: SinkContext) -> MqttSink:
    """The registry's factory for `kind: mqtt`: the password file is read off the event loop."""
    from vigil.config.files import read_password_file
    from vigil.config.sinks import spool_directory

    password = await asyncio.to_thread(read_password_file, config.password_file) if config.password_file else None
    return MqttSink(mqtt_options(config, password), spool_directory(config, context.name, os.environ), name=context.name)
