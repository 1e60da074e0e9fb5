"""The sink interface: results out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from vigil.result import InferenceResult

__all__ = ["Sink", "SinkHealth"]


@dataclass(frozen=True)
class SinkHealth:
    """How a sink is doing, for the daemon's `/readyz`: `ok` is False when results are not
    getting out (a receiver unreachable for a while, a spool near its cap, writing stopped);
    `reason` says why, or notes something worth knowing while `ok` (results dropped). Reasons
    never hold a credential."""

    ok: bool = True
    reason: str | None = None


class Sink(ABC):
    """Publishes results somewhere. `publish` may wait (bounded queue) but never loses a result
    it accepted; `flush` waits until everything accepted is written; `close` flushes and frees.
    The picture sinks (annotated video, snapshots) never wait instead: a result that finds
    their queue full is dropped and counted, so their slow encoding cannot hold up the pipeline.
    """

    name: str

    async def start(self) -> None:
        """Open files or connections; called once before the first `publish`."""

    def health(self) -> SinkHealth:
        """Whether results are getting out now; called on the event loop, so it only reads
        counters and never waits. The default: always ok."""
        return SinkHealth()

    @abstractmethod
    async def publish(self, result: InferenceResult) -> None: ...

    @abstractmethod
    async def flush(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...
