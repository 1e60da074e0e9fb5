"""The source interface: an async iterator of `Frame`s with `start()`, `stop()` and a state."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import Enum

from vigil.frame import Frame

__all__ = ["Source", "SourceState", "SourceStats"]

log = logging.getLogger(__name__)


class SourceState(str, Enum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"


@dataclass
class SourceStats:
    """Counters a source keeps: frames decoded and handed on, frames left out on purpose
    (`skipped`, by cause: never decoded, or turned away by a frame gate) and frames decoded but
    lost to sampling or a full queue (`dropped`, by cause)."""

    decoded: int = 0
    emitted: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)


StateListener = Callable[["Source", SourceState, str], None]


class Source(ABC):
    """Frames in. `start()` opens the source (raising `SourceOpenError` when it cannot),
    iteration yields frames until the source ends, `stop()` ends it early and frees its thread.

    `live` tells the batcher whether frames may be dropped when stale (cameras) or must all be
    processed with backpressure (files). State changes go to listeners on the event loop.
    """

    source_id: str
    live: bool = False
    # How many frames the source will give, when it knows before reading (a file read once
    # without sampling, once started); None otherwise. For progress displays, never for logic.
    expected_frames: int | None = None

    def __init__(self) -> None:
        self.state = SourceState.CONNECTING
        self.stats = SourceStats()
        self._listeners: list[StateListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add_state_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def _set_state(self, state: SourceState, detail: str = "", level: int = logging.INFO) -> None:
        """Callable from any thread; listeners run on the event loop. Logged at `level`."""
        if state is self.state:
            return
        self.state = state
        log.log(level, "source '%s': %s%s", self.source_id, state.value, f" ({detail})" if detail else "")
        if self._loop is not None and not self._loop.is_closed():
            for listener in self._listeners:
                self._loop.call_soon_threadsafe(listener, self, state, detail)

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[Frame]: ...
