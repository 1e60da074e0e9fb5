"""What the management API and the daemon ask of an event store (`Store`), and the typed
objects that cross its door.

    store.append(events)                              the stages' new events, in order
    store.query(EventQuery(source="door", limit=10))  the kept events it selects, newest first
    store.get(event_id) / store.files(logged)         one event; its snapshot, crop and clip files
    await store.search(SearchQuery(text="red car"))   events ranked by likeness (None: no such event)
    await store.close()

The daemon feeds a store through `StoreFeed` (a `PipelineObserver`) and hands it to the API;
neither knows which store it is. `vigil.store.log.EventLog` is the one vigil has (memory, with
SQLite search when `search:` is configured); a fleet may share another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from vigil.catalog import CATALOG
from vigil.pipeline import PipelineObserver
from vigil.result import InferenceResult
from vigil.store.analytics import analytics_of

if TYPE_CHECKING:
    from vigil.events import Event

__all__ = ["MAX_LIMIT", "EventFile", "EventQuery", "FoundEvent", "LoggedEvent", "SearchQuery", "Store", "StoreFeed"]

EventFile = Literal["snapshot", "crop", "clip"]
_PARAMETERS = ("source", "type", "since", "until", "limit")
MAX_LIMIT = 10_000
MAX_FOUND = 1000  # most events one search answers with


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which events: all of them when every field is None. `since` <= capture time < `until`."""

    source: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> EventQuery:
        """A query string's values (`GET /api/v1/events?type=zone_enter&since=...`); a bad one is a
        ValueError naming it and what to give."""
        unknown = sorted(set(params) - set(_PARAMETERS))
        if unknown:
            raise ValueError(f"unknown query parameter(s) {', '.join(unknown)}; use {', '.join(_PARAMETERS)}")
        types = CATALOG.event_types.names()
        kind = params.get("type") or None
        if kind is not None and kind not in types:
            raise ValueError(f"type '{kind}' is not an event type; use one of {', '.join(types)}")
        limit = params.get("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise ValueError(f"limit '{limit}' must be a whole number from 1 to {MAX_LIMIT}")
        return cls(
            source=params.get("source") or None,
            type=kind,
            since=_instant(params, "since"),
            until=_instant(params, "until"),
            limit=int(limit),
        )

    def selects(self, logged: LoggedEvent) -> bool:
        return (
            (self.source is None or logged.source == self.source)
            and (self.type is None or logged.type == self.type)
            and (self.since is None or logged.capture_time >= self.since)
            and (self.until is None or logged.capture_time < self.until)
        )


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Events like a text (`text`) or like an event's picture (`like`, an event id): exactly one."""

    text: str | None = None
    like: str | None = None
    limit: int = 20
    source: str | None = None
    type: str | None = None

    def __post_init__(self) -> None:
        if (self.text is None) == (self.like is None):
            raise ValueError("give one of text (to match the events' pictures) or like (an event id)")
        if not 1 <= self.limit <= MAX_FOUND:
            raise ValueError(f"limit must be a whole number from 1 to {MAX_FOUND}")


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One kept event: its record, and what the filters need without parsing it again."""

    record: dict[str, Any]
    source: str
    type: str
    capture_time: datetime

    @property
    def event_id(self) -> str:
        return str(self.record["id"])


@dataclass(frozen=True, slots=True)
class FoundEvent:
    """A search's answer: the event's record and how alike it is (cosine, 1 the most)."""

    record: dict[str, Any]
    score: float

    @property
    def event_id(self) -> str:
        return str(self.record["id"])


class Store(Protocol):
    """An event store, as the API and the daemon use it."""

    @property
    def kept(self) -> int:
        """How many of the newest events `query` and `get` find (older ones are forgotten)."""

    @property
    def searchable(self) -> bool:
        """Whether `search` works (it needs an embedding model: `search:` in the YAML)."""

    def append(self, events: Sequence[Event]) -> None:
        """The stages' new events, in the order they were made; called on the event loop."""

    def query(self, query: EventQuery) -> list[LoggedEvent]:
        """The kept events `query` selects, newest first, at most `query.limit`."""

    def get(self, event_id: str) -> LoggedEvent | None: ...

    def files(self, logged: LoggedEvent) -> dict[EventFile, Path]:
        """The event's files that exist now; may touch the disk: call it off the event loop."""

    async def search(self, query: SearchQuery) -> list[FoundEvent] | None:
        """The events most like the query, best first; None when `query.like` names no
        searchable event."""

    async def close(self) -> None: ...


class StoreFeed(PipelineObserver):
    """Hands the stages' events to a store, and to its counts and heatmaps when it keeps them
    (`vigil.store.analytics`: events to the counts, published results to the heatmaps)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.analytics = analytics_of(store)

    def events(self, events: Sequence[Event]) -> None:
        self.store.append(events)
        if self.analytics is not None:
            self.analytics.events(events)

    def published(self, result: InferenceResult) -> None:
        if self.analytics is not None:
            self.analytics.published(result)


def _instant(params: Mapping[str, str], key: str) -> datetime | None:
    """An ISO 8601 time (`2026-11-29T06:00:00Z`, `...+01:00`; without an offset: UTC)."""
    text = params.get(key) or None
    if text is None:
        return None
    text = re.sub(r" (\d\d:?\d\d)$", r"+\1", text)  # an offset's '+' sent unencoded arrives as a space
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{key} '{text}' is not an ISO 8601 time; give e.g. 2026-11-29T06:00:00Z") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
