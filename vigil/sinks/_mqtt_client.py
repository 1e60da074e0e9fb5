"""How the MQTT sink connects: its options (and how a `kind: mqtt` entry becomes them), the
lazy import of aiomqtt, a TLS check before paho's own handshake, and the task that notices a
dropped connection."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from vigil.errors import MissingDependencyError
from vigil.sinks._delivery import RetryTimings
from vigil.sinks._http import Backoff
from vigil.sinks.durable import DeliveryOptions
from vigil.sinks.spool import SpoolOptions

if TYPE_CHECKING:
    import aiomqtt

    from vigil.config.sinks import MqttSinkConfig

__all__ = [
    "SEP",
    "Connection",
    "MqttOptions",
    "check_tls",
    "import_aiomqtt",
    "mqtt_options",
    "new_client",
    "retained_messages",
    "retrieved",
    "spooled",
    "watch",
]


@dataclass(frozen=True)
class MqttOptions:
    """How the MQTT sink connects and publishes (the `kind: mqtt` keys, docs/OUTPUT.md)."""

    host: str
    port: int = 1883
    tls: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str | None = None
    topic_prefix: str = "vigil"
    protocol: Literal["5", "3.1.1"] = "5"
    qos: int = 1
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    snapshots: bool = True
    connect_timeout_s: float = 5.0
    publish_timeout_s: float = 10.0
    keepalive_s: int = 30
    # 200 messages a batch, all in flight at once: twice the events/s of 50 to a local broker.
    delivery: DeliveryOptions = field(default_factory=lambda: DeliveryOptions(batch_max=200))


def mqtt_options(config: MqttSinkConfig, password: str | None) -> MqttOptions:
    """A `kind: mqtt` entry as the sink's options (spool segments as the webhook sizes them)."""
    cap = config.spool_max_mb * 2**20
    timings = RetryTimings(
        Backoff(initial_s=config.retry_initial_s, max_s=config.retry_max_s),
        300.0,
        config.probe_after_s,
        config.probe_interval_s,
    )
    spool = SpoolOptions(segment_bytes=min(8 * 2**20, max(2**20, cap // 16)), max_bytes=cap)
    delivery = DeliveryOptions(
        batch_max=200,
        timings=timings,
        unhealthy_after_s=config.unhealthy_after_s,
        spool=spool,
        flush_timeout_s=max(10.0, config.publish_timeout_s),
    )
    return MqttOptions(
        host=config.host,
        port=config.port,
        tls=config.tls,
        ca_file=config.ca_file,
        username=config.username,
        password=password,
        client_id=config.client_id,
        topic_prefix=config.topic_prefix,
        protocol=config.protocol,
        qos=config.qos,
        discovery=config.discovery,
        discovery_prefix=config.discovery_prefix,
        snapshots=config.snapshots,
        connect_timeout_s=config.connect_timeout_s,
        publish_timeout_s=config.publish_timeout_s,
        keepalive_s=config.keepalive_s,
        delivery=delivery,
    )


def import_aiomqtt(sink: str) -> Any:
    try:
        import aiomqtt
    except ImportError as exc:
        raise MissingDependencyError(
            f"sink '{sink}' needs aiomqtt, which is not installed: pip install 'vigil-analytics[mqtt]'"
        ) from exc
    return aiomqtt


def check_tls(host: str, port: int, ca_file: str | None, timeout: float) -> None:
    """A TLS handshake with the broker, closed at once: paho leaves the socket of a failed
    handshake open (every retry would leak one), and this error says what failed."""
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with socket.create_connection((host, port), timeout=timeout) as tcp, context.wrap_socket(tcp, server_hostname=host):
            pass
    except ssl.SSLError as exc:
        raise ConnectionError(
            f"TLS handshake failed: {exc.reason or exc}; check tls, ca_file and the broker's certificate"
        ) from None


async def watch(client: aiomqtt.Client) -> None:
    """Ends when the connection drops: nothing is subscribed, so the message iterator only
    ever ends, with an error, at a disconnection."""
    try:
        async for _ in client.messages:
            pass
    except Exception:  # noqa: BLE001 - the drop itself
        return


async def retained_messages(client: aiomqtt.Client, topics: list[str], *, timeout_s: float, listen_s: float) -> dict[str, bytes]:
    """What the broker holds retained under `topics` (filters), heard for `listen_s` seconds
    after subscribing; unsubscribed again before it returns."""
    for topic in topics:
        await client.subscribe(topic, qos=1, timeout=timeout_s)
    found: dict[str, bytes] = {}

    async def collect() -> None:
        async for message in client.messages:
            if message.retain and isinstance(message.payload, (bytes, bytearray)) and message.payload:
                found[str(message.topic)] = bytes(message.payload)

    try:
        await asyncio.wait_for(collect(), listen_s)
    except asyncio.TimeoutError:
        pass
    for topic in topics:
        await client.unsubscribe(topic, timeout=timeout_s)
    return found


@dataclass
class Connection:
    """One connection to the broker: its client and a task that ends when it drops."""

    client: aiomqtt.Client
    lost: asyncio.Task[None]


def retrieved(future: asyncio.Future[Any]) -> None:
    """A done callback that reads the future's outcome, so a cancellation or error it ended
    with is never reported as unretrieved."""
    if not future.cancelled():
        future.exception()


SEP = b"\0"  # a spool record is `<camera>/<events|results>` NUL the JSON record (`topic_level`: no NUL)


def spooled(where: str, record: dict[str, Any]) -> bytes:
    """A spool record: where it goes (`<camera>/events`), NUL, the JSON record."""
    return where.encode() + SEP + json.dumps(record, separators=(",", ":")).encode()


def new_client(aiomqtt: Any, o: MqttOptions, client_id: str, status_topic: str) -> aiomqtt.Client:
    """An aiomqtt client for `o` (not connected), whose last will marks `status_topic` offline."""
    client = aiomqtt.Client(
        o.host,
        o.port,
        username=o.username,
        password=o.password,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5 if o.protocol == "5" else aiomqtt.ProtocolVersion.V311,
        will=aiomqtt.Will(status_topic, b"offline", qos=1, retain=True),
        timeout=o.connect_timeout_s,
        keepalive=o.keepalive_s,
        tls_params=aiomqtt.TLSParameters(ca_certs=o.ca_file) if o.tls else None,
        logger=logging.getLogger("vigil.sinks.mqtt.client"),
        # A whole batch in flight at once: acknowledgements are awaited together, not one by one.
        max_inflight_messages=max(20, o.delivery.batch_max),
    )
    client.pending_calls_threshold = 100_000  # a batch and the retained state are many pending calls by design
    return client
