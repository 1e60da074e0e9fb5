"""Bounded work per request (issue 26, item 6), on a real daemon: a zone of 4,000 points is a quick
422, a PUT at the bounds leaves /healthz answering, the API adds at most `api.max_streams`
streams, and a deleted stream's series leave /metrics."""

from __future__ import annotations

import asyncio
import math
import re
import time

import aiohttp
import pytest

from tests.conftest import encode_clip, photo
from tests.integration.daemon.test_daemon_api import config, started, until
from vigil.config.api import ApiConfig
from vigil.config.zones import MAX_LINES, MAX_POINTS, MAX_ZONES
from vigil.daemon.service import Daemon

CONSOLE = {"X-Vigil-Console": "1"}  # what a script sends on a write without the token (vigil.api.guard)


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory):
    return encode_clip(tmp_path_factory.mktemp("cam") / "cam.mp4", photo("astronaut"), frames=30, size=(320, 240), fps=10)


def circle(n: int, cx: float = 160, cy: float = 120, r: float = 100) -> list[list[float]]:
    """A simple polygon of `n` corners: every pair of edges must be checked to accept it."""
    return [[cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n)] for k in range(n)]


async def test_a_4000_point_zone_is_refused_at_once_and_shapes_at_the_bounds_leave_healthz_answering(
    tmp_path, nudenet_path, camera_clip
):
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip), ApiConfig(port=0))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    zones = f"{base}/api/v1/streams/door/zones"
    async with aiohttp.ClientSession(headers=CONSOLE) as http:
        # Today's cost of the pairwise check for 4,000 corners was 27 s on the event loop; refused
        # before any is checked, it answers well within this bound.
        huge = {"zones": [{"name": "huge", "polygon": circle(4000)}]}
        refused = await http.put(zones, json=huge, timeout=aiohttp.ClientTimeout(total=20))
        assert refused.status == 422, (await refused.text())[:300]
        assert f"zones.0.polygon: List should have at most {MAX_POINTS} items" in (await refused.json())["error"]
        too_many = {"zones": [{"name": f"z{i}", "polygon": circle(3)} for i in range(MAX_ZONES + 1)]}
        assert (await http.put(zones, json=too_many)).status == 422

        at_bounds = {
            "zones": [{"name": f"z{i}", "polygon": circle(MAX_POINTS, r=10 + i)} for i in range(MAX_ZONES)],
            "lines": [{"name": f"l{i}", "start": [0, i], "end": [320, i]} for i in range(MAX_LINES)],
        }
        put = asyncio.create_task(http.put(zones, json=at_bounds))
        answered = 0
        while not put.done() or answered < 3:  # bounded: the PUT ends, and three answers follow
            started_at = time.monotonic()
            health = await http.get(f"{base}/healthz", timeout=aiohttp.ClientTimeout(total=10))
            assert health.status == 200 and time.monotonic() - started_at < 10
            answered += 1
            assert answered < 2000, "the PUT never finished"
            await asyncio.sleep(0.02)
        response = await put
        assert response.status == 200, await response.text()
        shapes = await response.json()
        assert len(shapes["zones"]) == MAX_ZONES and len(shapes["lines"]) == MAX_LINES
        assert len(daemon.source_config("door").zones) == MAX_ZONES  # type: ignore[union-attr]
    daemon.stop()
    await asyncio.wait_for(task, 30)


async def test_the_api_adds_at_most_max_streams(tmp_path, nudenet_path, camera_clip):
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip), ApiConfig(port=0, max_streams=3))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}/api/v1/streams"
    async with aiohttp.ClientSession(headers=CONSOLE) as http:
        cameras = [{"name": f"cam{i}", "url": f"rtsp://127.0.0.1:9/cam{i}"} for i in range(4)]
        answers = await asyncio.gather(*(http.post(base, json=camera) for camera in cameras))  # at once: no race past it
        assert sorted(a.status for a in answers) == [201, 201, 409, 409]
        refusal = (await next(a for a in answers if a.status == 409).json())["error"]
        assert "3 streams run, as many as api.max_streams allows" in refusal and "DELETE one first" in refusal
        names = [s["name"] for s in (await (await http.get(base)).json())["streams"]]
        assert len(names) == 3 and names[0] == "door"
        gone = names[1]
        assert (await http.delete(f"{base}/{gone}")).status == 200
        assert (await http.post(base, json={"name": "late", "url": "rtsp://127.0.0.1:9/late"})).status == 201
    daemon.stop()
    await asyncio.wait_for(task, 30)


async def test_a_deleted_stream_leaves_metrics(tmp_path, nudenet_path, camera_clip):
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip, names=("door", "porch")), ApiConfig(port=0))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    async with aiohttp.ClientSession(headers=CONSOLE) as http:

        async def porch_counted() -> bool:
            text = await (await http.get(f"{base}/metrics")).text()
            return 'vigil_frames_inferred_total{source="porch"}' in text and 'vigil_frames_in_total{source="porch"}' in text

        await until(porch_counted, timeout=30)
        assert (await http.delete(f"{base}/api/v1/streams/porch")).status == 200
        text = await (await http.get(f"{base}/metrics")).text()
        assert not re.findall(r'^.*source="porch".*$', text, re.M)
        assert 'vigil_frames_inferred_total{source="door"}' in text  # the others' stay
    daemon.stop()
    await asyncio.wait_for(task, 30)
