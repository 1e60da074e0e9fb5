"""The daemon's memory of recent events, for `GET /api/v1/events` (`vigil.api.app`).

`EventLog` is a `PipelineObserver`: it keeps the records (`Event.to_record()`, never the frame
an event holds) of the last `kept` events in memory, newest last, and finds an event's pictures
and clip on disk when asked:

    log = EventLog(kept=1000, snapshot_dirs=lambda: [Path("snapshots")])
    log.query(EventQuery(source="door", type="zone_enter", limit=10))  # newest first
    log.files("3f0c...")  # {"snapshot": Path(".../door/events/3f0c....jpg"), "clip": ...}

Pictures are where a snapshot sink that takes events writes them,
`{directory}/{source}/events/{event_id}.jpg` and `{event_id}-crop.jpg`; a clip is the path in the
event's record (`clip`). Paths come only from the configuration and the logged record, never
from a request.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from vigil.events import EventType

from vigil.pipeline import PipelineObserver

if TYPE_CHECKING:
    from vigil.config.daemon import DaemonConfig
    from vigil.events import Event

__all__ = ["MAX_LIMIT", "EventFile", "EventLog", "EventQuery", "LoggedEvent", "snapshot_event_dirs"]

EventFile = Literal["snapshot", "crop", "clip"]
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")  # as the picture sinks name a source's folder
_PARAMETERS = ("source", "type", "since", "until", "limit")
MAX_LIMIT = 10_000


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
        types = get_args(EventType)
        kind = params.get("type") or None
        if kind is not None and kind not in types:
            raise ValueError(f"type '{kind}' is not an event type; use one of {', '.join(types)}")
        limit = params.get("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise ValueError(f"limit '{limit}' must be a whole number from 1 to {MAX_LIMIT}")
        return cls(source=params.get("source") or None, type=kind, since=_instant(params, "since"),
                   until=_instant(params, "until"), limit=int(limit))


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


class EventLog(PipelineObserver):
    """The last `kept` events. `snapshot_dirs()` gives the directories of the snapshot sinks
    that take events, read when files are looked up (a reload may change them)."""

    def __init__(self, kept: int = 1000, snapshot_dirs: Callable[[], Sequence[Path]] = tuple) -> None:
        self.kept = kept
        self._snapshot_dirs = snapshot_dirs
        self._events: OrderedDict[str, LoggedEvent] = OrderedDict()  # by id, oldest first

    def __len__(self) -> int:
        return len(self._events)

    def events(self, events: Sequence[Event]) -> None:
        for event in events:
            logged = LoggedEvent(event.to_record(), event.source, event.type, event.capture_time)
            self._events.pop(logged.event_id, None)  # the same event told twice: kept once, as the newer
            self._events[logged.event_id] = logged
            while len(self._events) > self.kept:
                self._events.popitem(last=False)

    def query(self, query: EventQuery) -> list[LoggedEvent]:
        """The events `query` selects, newest first (the order the pipeline made them), at most `query.limit`."""
        found: list[LoggedEvent] = []
        for logged in reversed(self._events.values()):
            if len(found) >= query.limit:
                break
            if _selected(logged, query):
                found.append(logged)
        return found

    def get(self, event_id: str) -> LoggedEvent | None:
        return self._events.get(event_id)

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


def _selected(logged: LoggedEvent, query: EventQuery) -> bool:
    return (
        (query.source is None or logged.source == query.source)
        and (query.type is None or logged.type == query.type)
        and (query.since is None or logged.capture_time >= query.since)
        and (query.until is None or logged.capture_time < query.until)
    )


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


def snapshot_event_dirs(config: DaemonConfig) -> list[Path]:
    """The directories of the `sinks:` entries of kind snapshot that take events."""
    return [
        Path(entry.directory)  # type: ignore[attr-defined]  # the snapshot kind's own key
        for entry in config.sinks
        if entry.kind == "snapshot" and "events" in entry.records and getattr(entry, "directory", None)
    ]
