"""`Fanout`: the last step of the pipeline, handing each result to the sinks its source routes to.

The runner owns one. It starts the sinks before the first frame and closes them last; between
the two, `publish` sends a result to every sink the result's source may use, one after the
other (each sink keeps its own order), and `replace` swaps sinks while publishing waits, so a
result goes to the old sink or to the new one, never to a closed one.

Each sink sits in an `Outlet` with its optional `ResultFilter` (the `filter:` of its `sinks:`
entry): the filter runs here, once per sink, before that sink's `publish`, so no sink filters
by itself and a sink of a new kind gets filtering for free.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vigil.errors import SinkError, VigilError
from vigil.events import Event
from vigil.result import InferenceResult
from vigil.sinks.base import CameraStatus, Sink, SinkStats
from vigil.sinks.filters import ResultFilter

__all__ = ["Fanout", "Outlet"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Outlet:
    """A sink, what it publishes (`filter`: None keeps everything), and how many results the
    filter left out. `carried`: what the sinks it replaced under this name counted before they
    closed (`Fanout.replace`), so `totals()` never goes back when a reload swaps the sink."""

    sink: Sink
    filter: ResultFilter | None = None
    filtered: int = 0
    carried: SinkStats = field(default_factory=SinkStats)

    @property
    def name(self) -> str:
        return self.sink.name

    def totals(self) -> SinkStats:
        """The sink's `stats()` plus what the sinks it replaced counted (for metrics)."""
        return self.carried.then(self.sink.stats())

    async def publish(self, result: InferenceResult) -> None:
        if self.filter is not None:
            kept = self.filter.apply(result)
            if kept is None:
                self.filtered += 1
                return
            result = kept
        await self.sink.publish(result)


class Fanout:
    """The sinks of one pipeline and the routes of its sources.

    `routes` maps a source id to the sink names it publishes to (a source absent from it
    publishes to every sink). A sink's name is its `sinks:` entry's name (`Sink.name`).
    """

    def __init__(self, sinks: Sequence[Sink | Outlet]) -> None:
        self.outlets = [_outlet(s) for s in sinks]
        self.routes: dict[str, frozenset[str]] = {}
        self.errors = 0  # publish calls that raised SinkError, over every sink
        self._open = False
        self._cameras: tuple[CameraStatus, ...] | None = None  # the latest `cameras` set, for sinks started later
        self._lock = asyncio.Lock()  # held while publishing a result and while sinks are swapped

    @property
    def sinks(self) -> list[Sink]:
        return [o.sink for o in self.outlets]

    async def start(self) -> None:
        for outlet in self.outlets:
            await outlet.sink.start()
        self._open = True

    async def publish(self, result: InferenceResult) -> None:
        allowed = self.routes.get(result.frame.source_id)
        async with self._lock:
            for outlet in self.outlets:
                if (allowed is not None and outlet.name not in allowed) or "results" not in outlet.sink.records:
                    continue
                try:
                    await outlet.publish(result)
                except SinkError as exc:
                    self._failed(exc)

    async def publish_events(self, events: Sequence[Event]) -> None:
        """`events` (one source's, in order) to every sink that takes events and that their
        source routes to. Sink filters select results only: events are not filtered."""
        if not events:
            return
        allowed = self.routes.get(events[0].source)
        async with self._lock:
            for outlet in self.outlets:
                if (allowed is not None and outlet.name not in allowed) or "events" not in outlet.sink.records:
                    continue
                for event in events:
                    try:
                        await outlet.sink.publish_event(event)
                    except SinkError as exc:
                        self._failed(exc)

    async def cameras(self, cameras: Sequence[CameraStatus]) -> None:
        """Tell every sink the cameras that route to it (`Sink.cameras`); a sink that fails is
        logged and the others are still told."""
        async with self._lock:  # never told to a sink that `replace` is closing
            self._cameras = tuple(cameras)
            if self._open:
                for outlet in self.outlets:
                    await self._tell(outlet)

    async def _tell(self, outlet: Outlet) -> None:
        if self._cameras is None:
            return
        mine = [c for c in self._cameras if (allowed := self.routes.get(c.name)) is None or outlet.name in allowed]
        try:
            await outlet.sink.cameras(mine)
        except Exception:  # one sink's bookkeeping must not stop the others
            log.exception("sink '%s' failed to take the set of cameras", outlet.name)

    def _failed(self, exc: SinkError) -> None:
        self.errors += 1
        if self.errors == 1:
            log.error("%s", exc)

    async def flush(self) -> None:
        for outlet in self.outlets:
            await outlet.sink.flush()

    async def close(self) -> None:
        async with self._lock:
            self._open = False
            for outlet in self.outlets:
                await outlet.sink.close()

    async def replace(self, changes: Mapping[str, Sink | Outlet | None]) -> None:
        """Swap the sinks named in `changes` for new ones (added when the name is new); None
        removes that sink. Each old sink writes (or spools) what it had queued and closes before
        its replacement starts, so a sink reusing the old one's files finds them closed. A
        replacement that fails to start is logged and left out (the error names it)."""
        async with self._lock:
            if self._open:
                for old in self.outlets:
                    if old.name in changes:
                        await old.sink.close()
            retired = {old.name: old for old in self.outlets if old.name in changes}
            started: dict[str, Outlet] = {}
            for name, new in changes.items():
                if new is not None and (outlet := await self._started(name, _outlet(new))) is not None:
                    if (previous := retired.get(name)) is not None:  # its counters go on from the old one's
                        outlet.carried, outlet.filtered = previous.totals(), outlet.filtered + previous.filtered
                    started[name] = outlet
            # A replaced sink keeps its place in the publishing order; a new one goes last.
            kept = []
            for outlet in self.outlets:
                if outlet.name not in changes:
                    kept.append(outlet)
                elif outlet.name in started:
                    kept.append(started.pop(outlet.name))
            self.outlets = kept + list(started.values())

    async def _started(self, name: str, outlet: Outlet) -> Outlet | None:
        if self._open:
            try:
                await outlet.sink.start()
            except VigilError as exc:
                log.error("sink '%s' could not start, so its results are not published: %s", name, exc)
                return None
            await self._tell(outlet)  # a replacement hears of the cameras at once, not at the next tick
        return outlet


def _outlet(sink: Sink | Outlet) -> Outlet:
    return sink if isinstance(sink, Outlet) else Outlet(sink)
