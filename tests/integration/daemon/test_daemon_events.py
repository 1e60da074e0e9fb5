"""Events through a real daemon: a camera with a zone on real video (the astronaut's face walking
into it), the real model, tracker and zones stage, a JSONL sink taking events and a snapshot sink
taking events; then /metrics counts the events and the zone's occupancy back at 0 once the object
ended, and GET /api/v1/events finds them, filtered, with their snapshot, behind the token; removing
the stream removes its occupancy gauge."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.integration.daemon.test_daemon_api import TOKEN, started, until
from tests.integration.stages.test_tracking import face_clip
from vigil.config.loader import parse_config
from vigil.daemon.service import Daemon

FRAMES, ZONE_X = 100, 400  # the face moves 4 px a frame, left to right, and is in the zone at the end
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("daemon-events") / "face.mp4", shown=[range(FRAMES)])


def yaml(clip: Path, nudenet_path: Path, tmp_path: Path) -> str:
    return f"""model:
  path: {nudenet_path}
sources:
  - name: cam
    url: {clip}
    tracking:
      classes: [FACE_FEMALE, FACE_MALE]
      track_activation_threshold: 0.5
      high_confidence_threshold: 0.5
    zones:
      - {{name: right, polygon: [[{ZONE_X}, 0], [640, 0], [640, 480], [{ZONE_X}, 480]]}}
sinks:
  - {{kind: jsonl, path: {tmp_path / "out.jsonl"}, records: [results, events]}}
  - {{kind: snapshot, name: pictures, directory: {tmp_path / "snaps"}, records: [events]}}
api:
  events_kept: 50
"""


async def test_a_zone_on_real_video_shows_in_metrics_and_the_events_api(clip, nudenet_path, tmp_path):
    config = parse_config(yaml(clip, nudenet_path, tmp_path), "cam.yaml", {})
    assert config.api.events_kept == 50
    # Off loopback, as on a camera network: everything but /healthz needs the token.
    daemon = Daemon(config, config.api.model_copy(update={"host": "0.0.0.0", "port": 0, "token": TOKEN}))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    async with aiohttp.ClientSession(headers=AUTH) as http:

        async def get(path: str, **params: str) -> tuple[int, dict]:
            answer = await http.get(base + path, params=params)
            return answer.status, await answer.json()

        async def ended() -> bool:
            return bool((await get("/api/v1/events", type="object_end"))[1]["events"])

        await until(ended, timeout=60)
        metrics = await (await http.get(f"{base}/metrics")).text()
        assert 'vigil_events_total{area="right",direction="",source="cam",type="zone_enter"} 1.0' in metrics
        assert 'vigil_events_total{area="",direction="",source="cam",type="object_end"} 1.0' in metrics
        occupancy = [line for line in metrics.splitlines() if line.startswith("vigil_zone_objects{")]
        assert len(occupancy) == 1 and 'zone="right"' in occupancy[0] and occupancy[0].endswith(" 0.0")

        status, body = await get("/api/v1/events", type="zone_enter", source="cam")
        assert status == 200
        (enter,) = body["events"]
        assert enter["zone"] == "right" and enter["class_name"] in ("FACE_FEMALE", "FACE_MALE")
        everything = (await get("/api/v1/events"))[1]["events"]
        assert [e["type"] for e in everything] == ["object_end", "zone_exit", "zone_enter", "object_start"]  # newest first
        assert (await get("/api/v1/events", source="elsewhere"))[1]["events"] == []
        assert (await get("/api/v1/events", since=enter["capture_time"], type="object_start"))[1]["events"] == []
        assert (await get(f"/api/v1/events/{enter['id']}"))[1]["id"] == enter["id"]

        status, body = await get("/api/v1/events", since="last tuesday")
        assert status == 400 and "since 'last tuesday' is not an ISO 8601 time" in body["error"]

        async def pictured() -> bool:  # the snapshot sink writes on its own thread
            return "snapshot_url" in (await get(f"/api/v1/events/{enter['id']}"))[1]

        await until(pictured)
        picture = await http.get(base + (await get(f"/api/v1/events/{enter['id']}"))[1]["snapshot_url"])
        assert picture.status == 200 and picture.content_type == "image/jpeg"
        assert (await picture.read())[:2] == b"\xff\xd8"

        assert (await http.delete(f"{base}/api/v1/streams/cam")).status == 200
        metrics = await (await http.get(f"{base}/metrics")).text()
        assert "vigil_zone_objects{" not in metrics  # a removed stream's gauges go
        assert 'source="cam"' not in metrics  # its counters go too: no series of a stream that is gone
        assert (await get(f"/api/v1/events/{enter['id']}"))[0] == 200  # and so do its events

    async with aiohttp.ClientSession() as anonymous:
        for path in ("/api/v1/events", f"/api/v1/events/{enter['id']}", f"/api/v1/events/{enter['id']}/snapshot.jpg"):
            assert (await anonymous.get(base + path)).status == 401
            assert (await anonymous.get(base + path, headers={"Authorization": "Bearer wrong"})).status == 401
    daemon.stop()
    await asyncio.wait_for(task, 30)
