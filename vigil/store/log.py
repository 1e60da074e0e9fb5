"""The daemon's event store (a `vigil.store.Store`), for `GET /api/v1/events` (`vigil.api.app`).

`EventLog` keeps the records (`Event.to_record()`, never the frame an event holds) of the last
`kept` events in memory, newest last, finds an event's pictures and clip on disk when asked and,
given an `EventSearch` (`vigil.store.search`, `search:` in the YAML), hands it every event and
answers searches through it:

    log = EventLog(kept=1000, snapshot_dirs=lambda: [Path("snapshots")])
    log.query(EventQuery(source="door", type="zone_enter", limit=10))  # newest first
    log.files(log.get("3f0c..."))  # {"snapshot": Path(".../door/events/3f0c....jpg"), "clip": ...}

`open_store` makes the daemon's from its configuration.

Pictures are where a snapshot sink that takes events writes them,
`{directory}/{source}/events/{event_id}.jpg` and `{event_id}-crop.jpg`; a clip is the path in the
event's record (`clip`). Paths come only from the configuration and the logged record, never
from a request.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.pipeline import PipelineObserver
from vigil.store.analytics import open_analytics
from vigil.store.base import EventFile, EventQuery, FoundEvent, LoggedEvent, SearchQuery

if TYPE_CHECKING:
    from vigil.config.daemon import DaemonConfig
    from vigil.config.search import SearchConfig
    from vigil.events import Event
    from vigil.store.analytics import Analytics
    from vigil.store.search import EventSearch

__all__ = ["EventLog", "open_store", "snapshot_event_dirs"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")  # as the picture sinks name a source's folder


class EventLog(PipelineObserver):
    """The last `kept` events, a `vigil.store.Store`. `snapshot_dirs()` gives the directories of
    the snapshot sinks that take events, read when files are looked up (a reload may change
    them); `search`, when given, embeds every event appended and answers `search()`."""

    def __init__(
        self,
        kept: int = 1000,
        snapshot_dirs: Callable[[], Sequence[Path]] = tuple,
        search: EventSearch | None = None,
        analytics: Analytics | None = None,
    ) -> None:
        self.kept = kept
        self.search_index = search
        self.analytics = analytics  # counts over time and heatmaps (`vigil.store.analytics`), fed by StoreFeed
        self._snapshot_dirs = snapshot_dirs
        self._events: OrderedDict[str, LoggedEvent] = OrderedDict()  # by id, oldest first

    def __len__(self) -> int:
        return len(self._events)

    @property
    def searchable(self) -> bool:
        return self.search_index is not None

    def events(self, events: Sequence[Event]) -> None:
        self.append(events)

    def append(self, events: Sequence[Event]) -> None:
        for event in events:
            logged = LoggedEvent(event.to_record(), event.source, event.type, event.capture_time)
            self._events.pop(logged.event_id, None)  # the same event told twice: kept once, as the newer
            self._events[logged.event_id] = logged
            while len(self._events) > self.kept:
                self._events.popitem(last=False)
        if self.search_index is not None:
            self.search_index.events(events)

    def query(self, query: EventQuery) -> list[LoggedEvent]:
        """The events `query` selects, newest first (the order the pipeline made them), at most `query.limit`."""
        found: list[LoggedEvent] = []
        for logged in reversed(self._events.values()):
            if len(found) >= query.limit:
                break
            if query.selects(logged):
                found.append(logged)
        return found

    def get(self, event_id: str) -> LoggedEvent | None:
        return self._events.get(event_id)

    async def search(self, query: SearchQuery) -> list[FoundEvent] | None:
        index = self.search_index
        if index is None:
            return []
        if query.text is not None:
            found: list[dict[str, Any]] | None = await index.by_text(query.text, query.limit, query.source, query.type)
        else:
            assert query.like is not None
            found = await index.like(query.like, query.limit, query.source, query.type)
        if found is None:
            return None
        return [FoundEvent({k: v for k, v in record.items() if k != "score"}, record["score"]) for record in found]

    async def close(self) -> None:
        if self.search_index is not None:
            await self.search_index.close()
        if self.analytics is not None:
            await self.analytics.close()

    def files(self, logged: LoggedEvent) -> dict[EventFile, Path]:
        """The event's snapshot, crop and clip files that exist now. Touches the disk: call it
        off the event loop."""
        found: dict[EventFile, Path] = {}
        folder = _UNSAFE.sub("_", logged.source).lstrip(".") or "source"
        for directory in self._snapshot_dirs():
            events = Path(directory) / folder / "events"
            pictures: tuple[tuple[EventFile, str], ...] = (("snapshot", ".jpg"), ("crop", "-crop.jpg"))
            for kind, suffix in pictures:
                name = f"{logged.event_id}{suffix}"
                if kind not in found and (events / name).is_file():
                    found[kind] = events / name
        clip = logged.record.get("clip")
        if isinstance(clip, str) and Path(clip).is_file():
            found["clip"] = Path(clip)
        return found


def snapshot_event_dirs(config: DaemonConfig) -> list[Path]:
    """The directories of the `sinks:` entries that take events and whose kind writes their
    pictures (the catalog's `event_pictures`: snapshot)."""
    from vigil.catalog import CATALOG

    return [
        Path(entry.directory)  # type: ignore[attr-defined]  # such a kind's own key
        for entry in config.sinks
        if CATALOG.sinks.get(entry.kind).event_pictures and "events" in entry.records and getattr(entry, "directory", None)
    ]


async def open_store(
    config: DaemonConfig, kept: int, snapshot_dirs: Callable[[], Sequence[Path]], state_dir: Path | None
) -> EventLog:
    """The daemon's store: the last `kept` events in memory, with `config.search` search (its
    model loaded off the loop, its SQLite file in `state_dir` unless it names one; its worker
    started: call on the event loop), and the counts and heatmaps of `counts:` and `heatmap:`."""
    search = await _load_search(config.search, state_dir) if config.search is not None else None
    if search is not None:
        search.start()
    try:
        analytics = await open_analytics(config, state_dir)
    except BaseException:
        if search is not None:
            await search.close()
        raise
    return EventLog(kept, snapshot_dirs, search, analytics)


async def _load_search(config: SearchConfig, state_dir: Path | None) -> EventSearch:
    from vigil.store.search import load_search  # numpy, sqlite3 and a model: only with search

    return await load_search(config, state_dir)
