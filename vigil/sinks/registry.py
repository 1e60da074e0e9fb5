"""Sinks by kind: the catalog's sink section (`SINKS`) and `build_sink`.

    from vigil.sinks.registry import SINKS
    SINKS.register("memory", MemorySinkConfig, make_memory_sink, takes_events=True)

The built-in kinds are declared in `vigil.catalog.builtin`. A factory is called as
`factory(config, context)` and returns a `Sink`, or an awaitable of one (it may read files off
the event loop first). `config` is the validated `sinks:` entry: an instance of the kind's config
class, with `kind`, `name`, `filter` and `records` added (`vigil.config.sink_list`); `context`
tells the instance's name.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from vigil.catalog import CATALOG, Registry, SinkKind
from vigil.config.sink_list import events_refusal
from vigil.errors import ConfigError
from vigil.sinks.base import Sink

__all__ = ["SINKS", "SinkContext", "build_sink"]


@dataclass(frozen=True)
class SinkContext:
    """What a factory gets besides its config: the instance's name (`sinks[].name`)."""

    name: str


SINKS: Registry[SinkKind] = CATALOG.sinks


async def build_sink(entry: Any) -> Sink:
    """The sink (not started) of one validated `sinks:` entry, named and kinded after it."""
    refusal = events_refusal(entry.kind, entry.records)
    if refusal is not None:
        raise ConfigError(f"sink '{entry.name}': records: [{', '.join(entry.records)}] is refused, {refusal}")
    made = SINKS.make(entry.kind, entry, SinkContext(entry.name))
    sink: Sink = await made if inspect.isawaitable(made) else made
    sink.name, sink.kind = entry.name, entry.kind
    sink.records = frozenset(entry.records)
    return sink
