"""The daemon's event log and `GET /api/v1/events`: the last N events newest first, filtered by
source, type and capture time; an event's snapshot, crop and clip found where the sinks wrote
them and served by the event's id only; bad query values a 400 naming them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.api.control_doubles import NothingRunning
from vigil.api.app import make_app
from vigil.config.daemon import DaemonConfig
from vigil.events import Event
from vigil.store.base import EventQuery
from vigil.store.log import EventLog, snapshot_event_dirs

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=timezone.utc)


def event(type_: Any = "object_start", seq: int = 0, source: str = "door", **more: Any) -> Event:
    return Event(
        type=type_,
        source=source,
        tracker_id=1,
        class_name="person",
        class_id=0,
        capture_time=T0 + timedelta(seconds=seq),
        seq=seq,
        **more,
    )


def logged(*events: Event, kept: int = 1000, dirs: list[Path] | None = None) -> EventLog:
    log = EventLog(kept, lambda: dirs or [])
    log.events(events)
    return log


def seqs(found: list[Any]) -> list[int]:
    return [f.record["seq"] for f in found]


def test_the_log_keeps_the_last_n_newest_first_and_drops_the_frame():
    made = [event(seq=i) for i in range(5)]
    log = logged(*made, kept=3)
    assert seqs(log.query(EventQuery())) == [4, 3, 2]
    assert seqs(log.query(EventQuery(limit=2))) == [4, 3]
    assert len(log) == 3 and log.get(made[0].event_id) is None
    assert log.get(made[4].event_id).record == made[4].to_record()  # type: ignore[union-attr]


def test_the_same_event_again_replaces_the_older_and_counts_as_newest():
    first = event(seq=1)
    log = logged(first, event(seq=2))
    log.events([first])
    assert seqs(log.query(EventQuery())) == [1, 2]
    assert len(log) == 2


@pytest.mark.parametrize(
    "query, expected",
    [
        (EventQuery(source="yard"), [3]),
        (EventQuery(type="zone_enter"), [2, 1]),
        (EventQuery(source="door", type="zone_enter"), [2, 1]),
        (EventQuery(since=T0 + timedelta(seconds=2)), [4, 3, 2]),  # since is inclusive
        (EventQuery(until=T0 + timedelta(seconds=2)), [1, 0]),  # until is not
        (EventQuery(since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=3), type="zone_enter"), [2, 1]),
        (EventQuery(type="zone_enter", limit=1), [2]),
        (EventQuery(source="nowhere"), []),
    ],
)
def test_the_log_filters_by_source_type_and_time(query, expected):
    log = logged(
        event(seq=0),
        event("zone_enter", 1, zone="z"),
        event("zone_enter", 2, zone="z"),
        event(seq=3, source="yard"),
        event("object_end", 4),
    )
    assert seqs(log.query(query)) == expected


def test_files_are_found_where_a_snapshot_sink_wrote_them_and_the_clip_where_the_record_says(tmp_path):
    clip = tmp_path / "clips" / "door-1.mp4"
    with_clip, without = event("object_end", 5, clip=str(clip)), event(seq=6)
    log = logged(with_clip, without, dirs=[tmp_path / "empty", tmp_path / "snaps"])
    assert log.files(log.get(with_clip.event_id)) == {}  # type: ignore[arg-type]  # nothing written yet
    folder = tmp_path / "snaps" / "door" / "events"
    folder.mkdir(parents=True)
    (folder / f"{with_clip.event_id}.jpg").write_bytes(b"\xff\xd8jpeg")
    (folder / f"{with_clip.event_id}-crop.jpg").write_bytes(b"\xff\xd8crop")
    clip.parent.mkdir()
    clip.write_bytes(b"mp4")
    assert log.files(log.get(with_clip.event_id)) == {  # type: ignore[arg-type]
        "snapshot": folder / f"{with_clip.event_id}.jpg",
        "crop": folder / f"{with_clip.event_id}-crop.jpg",
        "clip": clip,
    }
    assert log.files(log.get(without.event_id)) == {}  # type: ignore[arg-type]


def test_only_snapshot_sinks_that_take_events_give_directories(tmp_path):
    config = DaemonConfig.model_validate(
        {
            "model": {"path": "m"},
            "sources": [{"name": "door", "url": "door.mp4"}],
            "sinks": [
                {"kind": "snapshot", "name": "pictures", "directory": str(tmp_path / "a")},
                {"kind": "snapshot", "name": "events", "directory": str(tmp_path / "b"), "records": ["events"]},
                {"kind": "jsonl", "path": str(tmp_path / "r.jsonl"), "records": ["results", "events"]},
            ],
        }
    )
    assert snapshot_event_dirs(config) == [tmp_path / "b"]


class NoStreams(NothingRunning):
    """A `Control` with nothing running: these tests are about the event routes."""


async def test_the_events_routes_answer_records_with_urls_and_serve_the_files(tmp_path):
    pictured, plain = event("zone_enter", 1, zone="z"), event("object_start", 2, source="yard")
    log = logged(pictured, plain, dirs=[tmp_path])
    folder = tmp_path / "door" / "events"
    folder.mkdir(parents=True)
    (folder / f"{pictured.event_id}.jpg").write_bytes(b"\xff\xd8snapshot")
    async with TestClient(TestServer(make_app(NoStreams(), store=log))) as client:
        body = await (await client.get("/api/v1/events")).json()
        assert [e["id"] for e in body["events"]] == [plain.event_id, pictured.event_id]
        first = body["events"][1]
        assert first == {**pictured.to_record(), "snapshot_url": f"/api/v1/events/{pictured.event_id}/snapshot.jpg"}
        assert "snapshot_url" not in body["events"][0]
        picture = await client.get(first["snapshot_url"])
        assert picture.status == 200 and picture.content_type == "image/jpeg"
        assert await picture.read() == b"\xff\xd8snapshot"
        one = await client.get(f"/api/v1/events/{plain.event_id}")
        assert (await one.json())["source"] == "yard"
        filtered = await (
            await client.get(
                "/api/v1/events", params={"source": "door", "type": "zone_enter", "since": "2026-11-29T06:00:01Z", "limit": "5"}
            )
        ).json()
        assert [e["id"] for e in filtered["events"]] == [pictured.event_id]
        # 06:00:02 UTC: the event at 06:00:01 is before it, the one at 06:00:02 is not
        with_offset = await client.get("/api/v1/events", params={"until": "2026-11-29T07:00:02+01:00"})
        assert [e["id"] for e in (await with_offset.json())["events"]] == [pictured.event_id]


@pytest.mark.parametrize(
    "path, needle",
    [
        ("/api/v1/events/no-such-id", "no event 'no-such-id'"),
        ("/api/v1/events/no-such-id/snapshot.jpg", "no event"),
        ("/api/v1/events/{id}/crop.jpg", "has no crop"),
        ("/api/v1/events/{id}/clip.mp4", "has no clip"),
        ("/api/v1/events/..%2F..%2Fetc%2Fpasswd/snapshot.jpg", "no event"),
    ],
)
async def test_what_is_not_there_is_a_404_in_json(tmp_path, path, needle):
    known = event("zone_enter", 1, zone="z", clip=str(tmp_path / "missing.mp4"))
    log = logged(known, dirs=[tmp_path])
    async with TestClient(TestServer(make_app(NoStreams(), store=log))) as client:
        answer = await client.get(path.replace("{id}", known.event_id))
        assert answer.status == 404
        assert needle in (await answer.json())["error"]


@pytest.mark.parametrize(
    "params, needle",
    [
        ({"since": "yesterday"}, "since 'yesterday' is not an ISO 8601 time"),
        ({"until": "2026-13-01"}, "until '2026-13-01' is not an ISO 8601 time"),
        ({"type": "explosion"}, "type 'explosion' is not an event type; use one of object_start"),
        ({"limit": "0"}, "limit '0' must be a whole number from 1"),
        ({"limit": "ten"}, "limit 'ten' must be a whole number"),
        ({"sorce": "door"}, "unknown query parameter(s) sorce; use source"),
    ],
)
async def test_a_bad_query_value_is_a_400_naming_it(params, needle):
    async with TestClient(TestServer(make_app(NoStreams(), store=logged(event())))) as client:
        answer = await client.get("/api/v1/events", params=params)
        assert answer.status == 400
        assert needle in (await answer.json())["error"]


async def test_the_openapi_document_lists_the_event_routes():
    async with TestClient(TestServer(make_app(NoStreams()))) as client:
        paths = (await (await client.get("/api/v1/openapi.json")).json())["paths"]
    assert {
        "/api/v1/events",
        "/api/v1/events/{id}",
        "/api/v1/events/{id}/snapshot.jpg",
        "/api/v1/events/{id}/crop.jpg",
        "/api/v1/events/{id}/clip.mp4",
    } <= set(paths)
    assert [p["name"] for p in paths["/api/v1/events"]["get"]["parameters"]] == ["source", "type", "since", "until", "limit"]


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-29T06:00:00Z",
        "2026-11-29T06:00:00",
        "2026-11-29T07:00:00+01:00",
        "2026-11-29T07:00:00 01:00",
    ],  # a '+' the client did not encode arrives as a space
)
def test_since_takes_iso_8601_with_an_offset_or_as_utc(text):
    assert EventQuery.from_params({"since": text}).since == T0


def test_an_empty_query_selects_everything_up_to_100():
    assert EventQuery.from_params({"source": "", "type": ""}) == EventQuery(limit=100)
