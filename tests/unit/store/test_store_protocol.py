"""The management API works against the `Store` protocol, not `EventLog`: the real app
(`make_app`) over `MemoryStoreForTest`, a store written here from the protocol alone, answers
the events routes (filters handed through as an `EventQuery`, files served from where the store
says, search as a `SearchQuery`), and the daemon's feed hands it the pipeline's events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.api.control_doubles import NothingRunning
from vigil.api.app import make_app
from vigil.events import Event
from vigil.store import (
    EventFile,
    EventQuery,
    FoundEvent,
    LoggedEvent,
    SearchQuery,
    Store,
    StoreFeed,
)
from vigil.store.log import EventLog

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=timezone.utc)


def event(type_: Any = "zone_enter", seq: int = 0, source: str = "door") -> Event:
    return Event(
        type=type_,
        source=source,
        tracker_id=seq,
        class_name="person",
        class_id=0,
        capture_time=T0 + timedelta(seconds=seq),
        seq=seq,
        zone="porch" if type_.startswith("zone") else None,
    )


class MemoryStoreForTest:
    """A store from the protocol alone: a list, a dict of files, search by the type's name."""

    def __init__(self, files: dict[str, dict[EventFile, Path]] | None = None, searchable: bool = True) -> None:
        self.logged: list[LoggedEvent] = []
        self.queries: list[EventQuery] = []
        self.searches: list[SearchQuery] = []
        self.file_map = files or {}
        self._searchable = searchable
        self.closed = False

    @property
    def kept(self) -> int:
        return 7

    @property
    def searchable(self) -> bool:
        return self._searchable

    def append(self, events: Sequence[Event]) -> None:
        self.logged += [LoggedEvent(e.to_record(), e.source, e.type, e.capture_time) for e in events]

    def query(self, query: EventQuery) -> list[LoggedEvent]:
        self.queries.append(query)
        return [e for e in reversed(self.logged) if query.selects(e)][: query.limit]

    def get(self, event_id: str) -> LoggedEvent | None:
        return next((e for e in self.logged if e.event_id == event_id), None)

    def files(self, logged: LoggedEvent) -> dict[EventFile, Path]:
        return self.file_map.get(logged.event_id, {})

    async def search(self, query: SearchQuery) -> list[FoundEvent] | None:
        self.searches.append(query)
        if query.like == "unknown":
            return None
        ranked = [
            FoundEvent(e.record, 0.9 - 0.1 * n)
            for n, e in enumerate(reversed(self.logged))
            if query.text is None or query.text in e.type
        ]
        return [f for f in ranked if query.source in (None, f.record["source"])][: query.limit]

    async def close(self) -> None:
        self.closed = True


class NoStreams(NothingRunning):
    """A `Control` with nothing running."""


def a_store(tmp_path: Path, searchable: bool = True) -> tuple[MemoryStoreForTest, list[Event]]:
    made = [event("zone_enter", 1), event("object_start", 2, source="yard"), event("zone_exit", 3)]
    picture = tmp_path / "anywhere.jpg"
    picture.write_bytes(b"\xff\xd8memory")
    store = MemoryStoreForTest({made[0].event_id: {"snapshot": picture}}, searchable)
    StoreFeed(store).events(made)  # as the daemon feeds it: through its pipeline observer
    return store, made


def test_both_stores_have_what_the_protocol_asks():
    def check(store: Store) -> Store:  # mypy: each is a Store
        return store

    for store in (check(MemoryStoreForTest()), check(EventLog())):
        assert all(callable(getattr(store, name)) for name in ("append", "query", "get", "files", "search", "close"))
        assert isinstance(store.kept, int) and isinstance(store.searchable, bool)


async def test_the_events_routes_answer_from_any_store(tmp_path):
    store, made = a_store(tmp_path)
    async with TestClient(TestServer(make_app(NoStreams(), store=store))) as client:
        answer = await client.get("/api/v1/events", params={"source": "door", "limit": "5", "since": "2026-12-06T08:00:01Z"})
        assert answer.status == 200
        assert [e["id"] for e in (await answer.json())["events"]] == [made[2].event_id, made[0].event_id]
        assert store.queries[-1] == EventQuery(source="door", since=T0 + timedelta(seconds=1), limit=5)

        one = await (await client.get(f"/api/v1/events/{made[0].event_id}")).json()
        assert one["snapshot_url"] == f"/api/v1/events/{made[0].event_id}/snapshot.jpg"
        picture = await client.get(one["snapshot_url"])
        assert picture.status == 200 and await picture.read() == b"\xff\xd8memory"

        missing = await client.get("/api/v1/events/nope")
        assert missing.status == 404 and "among the last 7 kept" in (await missing.json())["error"]


async def test_search_goes_to_the_store_as_a_search_query(tmp_path):
    store, made = a_store(tmp_path)
    async with TestClient(TestServer(make_app(NoStreams(), store=store))) as client:
        found = await (await client.get("/api/v1/events/search", params={"q": "zone", "source": "door", "limit": "1"})).json()
        assert store.searches[-1] == SearchQuery(text="zone", source="door", limit=1)
        [top] = found["events"]
        assert top["id"] == made[2].event_id and top["score"] == pytest.approx(0.9)
        assert "type" in top and "snapshot_url" not in top  # its record, described as /api/v1/events does

        like = await (await client.get("/api/v1/events/search", params={"like": made[0].event_id})).json()
        assert store.searches[-1] == SearchQuery(like=made[0].event_id)
        assert like["events"][-1]["snapshot_url"].endswith("/snapshot.jpg")  # a kept event: its files' URLs

        unknown = await client.get("/api/v1/events/search", params={"like": "unknown"})
        assert unknown.status == 404 and "no searchable event 'unknown'" in (await unknown.json())["error"]


async def test_a_store_that_cannot_search_says_so(tmp_path):
    store, _ = a_store(tmp_path, searchable=False)
    async with TestClient(TestServer(make_app(NoStreams(), store=store))) as client:
        answer = await client.get("/api/v1/events/search", params={"q": "car"})
        assert answer.status == 404 and "event search is off" in (await answer.json())["error"]
    assert store.searches == []


@pytest.mark.parametrize(
    "fields, needle",
    [({}, "give one of text"), ({"text": "a", "like": "b"}, "give one of text"), ({"text": "a", "limit": 0}, "limit must be")],
)
def test_a_search_query_refuses_what_no_store_can_answer(fields, needle):
    with pytest.raises(ValueError, match=needle):
        SearchQuery(**fields)


async def test_the_event_log_searches_through_its_index_and_closes_it():
    class Index:
        def __init__(self) -> None:
            self.got: list[Event] = []
            self.closed = False

        def events(self, events: Sequence[Event]) -> None:
            self.got += events

        async def by_text(self, text: str, limit: int, source: str | None, kind: str | None) -> list[dict[str, Any]]:
            return [{"id": "a", "source": source, "type": kind, "score": 0.5}][:limit]

        async def like(self, event_id: str, limit: int, source: str | None, kind: str | None) -> None:
            return None

        async def close(self) -> None:
            self.closed = True

    index = Index()
    log = EventLog(search=index)  # type: ignore[arg-type]
    log.append([event()])
    assert log.searchable and len(index.got) == 1 and len(log) == 1
    assert await log.search(SearchQuery(text="x", source="door", type="zone_enter")) == [
        FoundEvent({"id": "a", "source": "door", "type": "zone_enter"}, 0.5)
    ]
    assert await log.search(SearchQuery(like="b")) is None
    await log.close()
    assert index.closed
    assert not EventLog().searchable and await EventLog().search(SearchQuery(text="x")) == []


async def test_a_stored_record_off_the_schema_is_still_answered_never_a_5xx(tmp_path, caplog):
    # A store shared with another vigil version, or a damaged one, may hold records that do not
    # match today's EventRecord: they are answered as stored, never a 500.
    store, made = a_store(tmp_path)
    odd = dict(store.logged[0].record, seq="seven", tracker_id=None)
    store.logged[0] = LoggedEvent(odd, made[0].source, made[0].type, made[0].capture_time)
    async with TestClient(TestServer(make_app(NoStreams(), store=store))) as client:
        listed = await client.get("/api/v1/events", params={"limit": "5"})
        assert listed.status == 200
        events = (await listed.json())["events"]
        assert [e["seq"] for e in events if e["id"] == made[0].event_id] == ["seven"]
        one = await client.get(f"/api/v1/events/{made[0].event_id}")
        assert one.status == 200 and (await one.json())["seq"] == "seven"
    assert "does not match the event schema" in caplog.text
