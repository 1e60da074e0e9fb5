"""The sink interface: results out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vigil.events import Event
from vigil.result import InferenceResult

__all__ = ["CameraStatus", "Sink", "SinkHealth", "SinkStats"]


@dataclass(frozen=True)
class SinkStats:
    """What a sink has counted since it started, for metrics and `/readyz`: `published`
    results it wrote or delivered; `dropped` results it lost by design (a full picture queue,
    a spool at its cap); `backlog` results accepted and not yet out; `errors` failed writes or
    delivery attempts; `last_error` the latest one (never holding a credential); `duplicates`
    records the receiver said it already had and did not store again (NATS JetStream's
    duplicate window: a resend after a lost acknowledgement, or an id used twice);
    `dropped_by_reason` splits `dropped` by why (`queue_full`, `spool_full`, `disk_full`,
    `too_many_open_files` ...: the `reason` label of `vigil_sink_dropped_total`); drops of a
    sink that leaves it empty count under `other`."""

    published: int = 0
    dropped: int = 0
    backlog: int = 0
    errors: int = 0
    last_error: str | None = None
    duplicates: int = 0
    dropped_by_reason: Mapping[str, int] = field(default_factory=dict)

    def then(self, later: SinkStats) -> SinkStats:
        """These counts (a sink that was replaced, closed) carried into `later`'s (its
        replacement's): the counters add up, so they never go back when a reload swaps a sink;
        `backlog` and `last_error` are the replacement's own."""
        reasons = dict(self.dropped_by_reason)
        for reason, n in later.dropped_by_reason.items():
            reasons[reason] = reasons.get(reason, 0) + n
        return SinkStats(
            self.published + later.published,
            self.dropped + later.dropped,
            later.backlog,
            self.errors + later.errors,
            later.last_error,
            self.duplicates + later.duplicates,
            reasons,
        )


@dataclass(frozen=True)
class SinkHealth:
    """How a sink is doing, for the daemon's `/readyz`: `ok` is False when results are not
    getting out (a receiver unreachable for a while, a spool near its cap, writing stopped);
    `reason` says why, or notes something worth knowing while `ok` (results dropped). Reasons
    never hold a credential."""

    ok: bool = True
    reason: str | None = None


@dataclass(frozen=True)
class CameraStatus:
    """One camera as the daemon tells the sinks (`Sink.cameras`): its `name` (source id), its
    `state` (a `SourceState` value: connecting, streaming, reconnecting, ended, failed), `fps`
    (results per second over the last 10 s) and the names of its configured `zones`. Never a URL
    or an error: nothing here may hold a credential."""

    name: str
    state: str
    fps: float = 0.0
    zones: tuple[str, ...] = ()


class Sink(ABC):
    """Publishes results somewhere. `publish` may wait (bounded queue) but never loses a result
    it accepted; `flush` waits until everything accepted is written; `close` flushes and frees.
    The picture sinks (annotated video, snapshots) never wait instead: a result that finds
    their queue full is dropped and counted, so their slow encoding cannot hold up the pipeline.
    """

    # The instance name the configuration gives it (`sinks[].name`): routes and metrics use it.
    name: str
    kind: str = "custom"  # the catalog kind it was built from (vigil.catalog)
    # What the configuration sends it (`sinks[].records`): "results", "events" or both.
    records: frozenset[str] = frozenset({"results"})

    async def start(self) -> None:
        """Open files or connections; called once before the first `publish`."""

    def health(self) -> SinkHealth:
        """Whether results are getting out now; called on the event loop, so it only reads
        counters and never waits. The default: always ok."""
        return SinkHealth()

    def stats(self) -> SinkStats:
        """Counters since start; called on the event loop, so it only reads counters. Every
        built-in sink implements it; the default (all zero) suits a sink that counts nothing."""
        return SinkStats()

    @abstractmethod
    async def publish(self, result: InferenceResult) -> None: ...

    async def publish_event(self, event: Event) -> None:
        """Publish one event (stages' records: `vigil.events`), in order with the results; a
        kind that takes events (its catalog entry's `takes_events`) overrides this."""
        raise NotImplementedError(f"sink '{self.name}' ({self.kind}) does not take events")

    async def cameras(self, cameras: Sequence[CameraStatus]) -> None:
        """The whole current set of cameras that route to this sink, told by the daemon every few
        seconds and at once after a camera is added or removed (one absent from the set is
        gone). The default ignores it; the MQTT sink keeps its retained state and Home
        Assistant entities in line with it."""

    @abstractmethod
    async def flush(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...
