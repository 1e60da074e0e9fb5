"""`GET /api/v1/counts` and `GET /api/v1/streams/{name}/heatmap.png` on the real app over an
event store that keeps counts and heatmaps (`vigil.store.analytics`), fed as the daemon feeds it
(`StoreFeed`): the JSON rows as counted by hand and valid against the OpenAPI document, well-formed
CSV (by format=csv and by Accept), bad parameters a 400 naming them, nothing counted or an unknown
stream a 404, and both routes a 404 while their section is off."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import cv2
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from tests.unit.api.control_doubles import NothingRunning
from tests.unit.store.test_counts import SCRIPT
from tests.unit.store.test_heatmap import PERSON_LEFT, result
from vigil.api.app import make_app
from vigil.api.counts import COLUMNS
from vigil.api.openapi import openapi_document
from vigil.config import SourceConfig
from vigil.store import StoreFeed
from vigil.store.analytics import Analytics
from vigil.store.counts import CountStore
from vigil.store.heatmap import HeatmapView
from vigil.store.log import EventLog

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc).timestamp()
WINDOW = {"since": "2026-12-01T06:00:00Z", "until": "2026-12-01T06:45:00Z"}


class GateRunning(NothingRunning):
    def source_config(self, name: str) -> SourceConfig | None:
        return SourceConfig.model_validate({"name": name, "url": "rtsp://10.0.0.1/gate"}) if name == "gate" else None


@pytest.fixture
def log() -> EventLog:
    counts = CountStore(":memory:", clock=lambda: NOW)
    return EventLog(analytics=Analytics(counts, HeatmapView(grid=32, clock=lambda: NOW)))


@pytest.fixture
async def client(log: EventLog) -> AsyncIterator[TestClient]:
    StoreFeed(log).events(SCRIPT)  # as the daemon feeds it
    async with TestClient(TestServer(make_app(GateRunning(), store=log))) as test_client:
        yield test_client
    await log.close()


def valid(path: str, status: int, body: bytes, content_type: str) -> None:
    OpenAPI.from_dict(openapi_document()).validate_response(
        MockRequest("http://localhost", "get", path), MockResponse(body, status_code=status, content_type=content_type)
    )


async def test_the_json_rows_are_the_hand_counts_and_match_the_document(client):
    answer = await client.get("/api/v1/counts", params={**WINDOW, "line": "door", "zone": "queue"})
    body = await answer.read()
    assert answer.status == 200, body
    valid("/api/v1/counts", 200, body, "application/json")
    data = await answer.json()
    assert data["interval"] == "15m" and data["since"] == "2026-12-01T06:00:00Z" and data["until"] == "2026-12-01T06:45:00Z"
    line = [(r["start"][11:16], r["in"], r["out"]) for r in data["rows"] if r["line"] == "door"]
    assert line == [("06:00", 2, 0), ("06:15", 0, 1), ("06:30", 0, 0)]
    queue = [r for r in data["rows"] if r["zone"] == "queue"]
    assert [(r["entries"], r["exits"], r["max_occupancy"], r["mean_occupancy"], r["mean_dwell_s"]) for r in queue] == [
        (2, 1, 2, 1.333, 600.0),
        (0, 1, 1, 0.333, 900.0),
        (0, 0, 0, 0.0, None),
    ]


@pytest.mark.parametrize("how", [{"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}])
async def test_csv_has_a_header_and_one_well_formed_line_per_row(client, how):
    answer = await client.get("/api/v1/counts", params={**WINDOW, **how.get("params", {})}, headers=how.get("headers", {}))
    assert answer.status == 200 and answer.content_type == "text/csv"
    text = await answer.text()
    assert text.endswith("\r\n")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(COLUMNS) and len(table) == 1 + 6 and all(len(row) == len(COLUMNS) for row in table)
    door = [row for row in table[1:] if row[3] == "door"]
    assert [(r[0], r[5], r[6], r[7]) for r in door] == [
        ("2026-12-01T06:00:00Z", "2", "0", ""),
        ("2026-12-01T06:15:00Z", "0", "1", ""),
        ("2026-12-01T06:30:00Z", "0", "0", ""),
    ]


@pytest.mark.parametrize(
    "params, named",
    [
        ({"interval": "90s"}, "interval '90s'"),
        ({"interval": "1w"}, "interval '1w'"),
        ({"since": "last week"}, "since 'last week'"),
        ({"format": "xlsx"}, "format 'xlsx'"),
        ({"limit": "5"}, "unknown query parameter(s) limit"),
        ({"interval": "1m", "since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "more than 10000"),
    ],
)
async def test_bad_parameters_are_a_400_naming_them(client, params, named):
    answer = await client.get("/api/v1/counts", params=params)
    body = await answer.read()
    assert answer.status == 400 and named in (await answer.json())["error"]
    valid("/api/v1/counts", 400, body, "application/json")


async def test_nothing_counted_for_a_name_is_a_404_naming_it(client):
    answer = await client.get("/api/v1/counts", params={"zone": "lobby"})
    assert answer.status == 404 and "zone 'lobby'" in (await answer.json())["error"]


async def test_the_heatmap_png_decodes_and_an_unknown_stream_is_a_404(client, log):
    assert (await client.get("/api/v1/streams/gate/heatmap.png")).status == 503  # no frame yet
    for seq in range(5):
        StoreFeed(log).published(result([PERSON_LEFT], ["person"], seq=seq))
    answer = await client.get("/api/v1/streams/gate/heatmap.png", params={"class": "person"})
    assert answer.status == 200 and answer.content_type == "image/png"
    picture = cv2.imdecode(np.frombuffer(await answer.read(), np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape == (320, 640, 3)
    change = np.abs(picture.astype(np.int32) - 40).sum(axis=2)  # how far from the frame's grey
    assert change[295:320, 75:105].mean() > 60 and change[50:70, 500:520].max() == 0
    missing = await client.get("/api/v1/streams/yard/heatmap.png")
    assert missing.status == 404 and (await missing.json())["error"] == "no stream named 'yard'"


async def test_both_routes_are_a_404_while_their_sections_are_off():
    async with TestClient(TestServer(make_app(GateRunning(), store=EventLog()))) as client:
        counts = await client.get("/api/v1/counts")
        assert counts.status == 404 and "counts are off" in (await counts.json())["error"]
        heat = await client.get("/api/v1/streams/gate/heatmap.png")
        assert heat.status == 404 and "heatmaps are off" in (await heat.json())["error"]
