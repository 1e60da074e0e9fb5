"""The source interface: an async iterator of `Frame`s with `start()` and `stop()`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator

from vigil.frame import Frame

__all__ = ["Source"]


class Source(ABC):
    """Frames in. `start()` opens the source (raising `SourceOpenError` when it cannot),
    iteration yields frames until the source ends, `stop()` ends it early and frees its thread.

    `live` tells the batcher whether frames may be dropped when stale (cameras) or must all be
    processed with backpressure (files).
    """

    source_id: str
    live: bool = False

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[Frame]: ...
