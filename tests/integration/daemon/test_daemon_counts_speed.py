"""Line counts and calibrated speed through a real daemon (issue 31): the astronaut's face walks
left to right at 4 px a frame (30 fps) across a line and into a zone with a speed limit, on a
camera whose `speed:` calibration makes 40 px one metre along the walk: 3 m/s, 10.8 km/h. The
real model, tracker and zones stage; the JSONL sink gets `speed_kmh` on the detections and on
the events, `object_end` its max and mean, and /metrics counts the crossing and the speeding."""

from __future__ import annotations

import asyncio
import json
import statistics
from pathlib import Path

import aiohttp
import pytest

from tests.integration.daemon.test_daemon_api import started, until
from tests.integration.stages.test_tracking import face_clip
from vigil.config.loader import parse_config
from vigil.daemon.service import Daemon

FRAMES, LINE_X, ZONE_X = 100, 240, 400
TRUE_KMH = 4 * 30 / 40 * 3.6  # px a frame * fps / px a metre, in km/h


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("counts-speed") / "face.mp4", shown=[range(FRAMES)])


def yaml(clip: Path, nudenet_path: Path, out: Path) -> str:
    return f"""model:
  path: {nudenet_path}
sources:
  - name: cam
    url: {clip}
    tracking:
      classes: [FACE_FEMALE, FACE_MALE]
      track_activation_threshold: 0.5
      high_confidence_threshold: 0.5
    speed:
      image: [[0, 300], [640, 300], [640, 480], [0, 480]]
      world: [[0, 0], [16, 0], [16, 4.5], [0, 4.5]]
    lines:
      - {{name: door, start: [{LINE_X}, 0], end: [{LINE_X}, 480]}}
    zones:
      - {{name: right, polygon: [[{ZONE_X}, 0], [640, 0], [640, 480], [{ZONE_X}, 480]], speed_limit_kmh: 8}}
sinks:
  - {{kind: jsonl, path: {out}, records: [results, events]}}
"""


async def test_speed_and_line_counts_reach_the_jsonl_and_the_metrics(clip, nudenet_path, tmp_path):
    out = tmp_path / "out.jsonl"
    config = parse_config(yaml(clip, nudenet_path, out), "cam.yaml", {})
    daemon = Daemon(config, config.api.model_copy(update={"port": 0}))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    try:
        async with aiohttp.ClientSession(headers={"X-Vigil-Console": "1"}) as http:

            async def ended() -> bool:
                answer = await http.get(f"{base}/api/v1/events", params={"type": "object_end"})
                return bool((await answer.json())["events"])

            await until(ended, timeout=90)
            metrics = await (await http.get(f"{base}/metrics")).text()
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)
    assert 'vigil_events_total{area="door",direction="in",source="cam",type="line_cross"} 1.0' in metrics
    assert 'vigil_events_total{area="right",direction="",source="cam",type="speeding"} 1.0' in metrics

    records = [json.loads(line) for line in out.read_text().splitlines()]
    faces = [d for r in records if "record" not in r for d in r["detections"] if d.get("tracker_id", -1) >= 0]
    measured = [d["speed_kmh"] for d in faces if "speed_kmh" in d]
    assert len(measured) >= FRAMES - 30  # every tracked face once 3/4 of the 1 s window is behind it
    assert abs(statistics.median(measured) - TRUE_KMH) <= 0.05 * TRUE_KMH, measured
    print(f"speed: true {TRUE_KMH:.2f} km/h, median {statistics.median(measured):.2f}, range {min(measured)}-{max(measured)}")
    events = {e["type"]: e for e in records if e.get("record") == "event"}
    cross, speeding, end = events["line_cross"], events["speeding"], events["object_end"]
    assert cross["direction"] == "in" and cross["relinked"] is False and "relinked_from" not in cross
    assert abs(cross["speed_kmh"] - TRUE_KMH) <= 0.1 * TRUE_KMH
    assert speeding["zone"] == "right" and speeding["speed_limit_kmh"] == 8 and speeding["speed_kmh"] > 8
    assert abs(end["speed_kmh_mean"] - TRUE_KMH) <= 0.05 * TRUE_KMH and end["speed_kmh_max"] >= end["speed_kmh_mean"]
