"""The sink interface: results out."""

from __future__ import annotations

from abc import ABC, abstractmethod

from vigil.result import InferenceResult

__all__ = ["Sink"]


class Sink(ABC):
    """Publishes results somewhere. `publish` may wait (bounded queue) but never loses a result
    it accepted; `flush` waits until everything accepted is written; `close` flushes and frees.
    The picture sinks (annotated video, snapshots) never wait instead: a result that finds
    their queue full is dropped and counted, so their slow encoding cannot hold up the pipeline.
    """

    name: str

    async def start(self) -> None:
        """Open files or connections; called once before the first `publish`."""

    @abstractmethod
    async def publish(self, result: InferenceResult) -> None: ...

    @abstractmethod
    async def flush(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...
