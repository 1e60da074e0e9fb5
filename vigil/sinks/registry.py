"""The sink registry: every kind a `sinks:` entry may name, with its config class and factory.

    from vigil.sinks.registry import SINKS
    SINKS.register("mqtt", MqttSinkConfig, "vigil.sinks.mqtt:make_mqtt_sink")

A factory is called as `factory(config, context)` and returns a `Sink`, or an awaitable of one
(it may read files off the event loop first). `config` is the validated `sinks:` entry: an
instance of the registered config class, with `kind`, `name` and `filter` added
(`vigil.config.sink_list`); `context` tells the instance's name. The config schema, assembly,
`vigil check`, metrics and the CLI read this registry; a kind registered from outside vigil at
run time is usable in the YAML from then on.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from vigil.errors import ConfigError
from vigil.config.sinks import JsonlSinkConfig, MqttSinkConfig, NatsSinkConfig, SnapshotSinkConfig, VideoSinkConfig, WebhookSinkConfig
from vigil.registry import Registry
from vigil.sinks.base import Sink

__all__ = ["SINKS", "SinkContext", "build_sink"]


@dataclass(frozen=True)
class SinkContext:
    """What a factory gets besides its config: the instance's name (`sinks[].name`)."""

    name: str


SINKS: Registry[Sink] = Registry("sink")
# In publishing order of the old top-level sections; imported only when a kind is configured.
SINKS.register("jsonl", JsonlSinkConfig, "vigil.sinks.jsonl:make_jsonl_sink")
SINKS.register("webhook", WebhookSinkConfig, "vigil.sinks.webhook:make_webhook_sink")
SINKS.register("video", VideoSinkConfig, "vigil.sinks.video:make_video_sink")
SINKS.register("snapshot", SnapshotSinkConfig, "vigil.sinks.snapshot:make_snapshot_sink")
SINKS.register("mqtt", MqttSinkConfig, "vigil.sinks.mqtt:make_mqtt_sink")
SINKS.register("nats", NatsSinkConfig, "vigil.sinks.nats:make_nats_sink")


async def build_sink(entry: Any) -> Sink:
    """The sink (not started) of one validated `sinks:` entry, named and kinded after it."""
    made = SINKS.make(entry.kind, entry, SinkContext(entry.name))
    sink: Sink = await made if inspect.isawaitable(made) else made
    sink.name, sink.kind = entry.name, entry.kind
    sink.records = frozenset(entry.records)
    if "events" in sink.records and not sink.takes_events:
        raise ConfigError(
            f"sink '{entry.name}': records: [{', '.join(entry.records)}] is refused, a {entry.kind} sink cannot take "
            "events; give it records: [results], or send the events to a jsonl, webhook or snapshot sink"
        )
    return sink
