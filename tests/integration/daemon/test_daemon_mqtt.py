"""The daemon tells its sinks the cameras it runs (`Sink.cameras`): through a real daemon, the
real model on real video, and a real mosquitto, each camera's retained state and Home Assistant
entities appear; removing a stream removes them all; a zone dropped from a camera by a reload
removes that zone's entities while the camera's own stay; after the daemon stops the entities
remain and the status says offline."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.integration.daemon.test_daemon_api import started
from tests.integration.sinks.test_mqtt_sink import Subscriber, retained
from tests.integration.stages.test_tracking import face_clip
from tests.support.mosquitto import Mosquitto
from vigil.config.api import ApiConfig
from vigil.config.loader import parse_config
from vigil.daemon.service import Daemon

EVERYTHING = ["vigil/#", "homeassistant/#"]
ALL = "[[0, 0], [640, 0], [640, 480], [0, 480]]"


@pytest.fixture
def broker(tmp_path: Path) -> Mosquitto:
    server = Mosquitto(tmp_path / "broker")
    server.start()
    yield server
    server.stop()


def yaml(clip: Path, nudenet_path: Path, tmp_path: Path, port: int, zones: list[str]) -> str:
    areas = "\n".join(f"      - {{name: {zone}, polygon: {ALL}}}" for zone in zones)
    return f"""model:
  path: {nudenet_path}
sources:
  - name: cam
    url: {clip}
    realtime: true
    loop: true
    tracking: {{classes: [FACE_FEMALE, FACE_MALE], track_activation_threshold: 0.5, high_confidence_threshold: 0.5}}
    zones:
{areas}
  - {{name: yard, url: {clip}, realtime: true, loop: true}}
sinks:
  - {{kind: mqtt, host: 127.0.0.1, port: {port}, client_id: box1, records: [events], spool_dir: {tmp_path / "spool"}}}
"""


async def settled(port: int, check, timeout: float = 30.0) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = await retained(port, EVERYTHING, 0.3)
        if check(state):
            return state
        assert asyncio.get_running_loop().time() < deadline, f"never settled: {sorted(state)}"


async def test_cameras_and_zones_appear_and_disappear_in_home_assistant(broker, nudenet_path, tmp_path):
    clip = face_clip(tmp_path / "face.mp4", shown=[range(60)])
    text = yaml(clip, nudenet_path, tmp_path, broker.port, ["all", "whole"])
    daemon = Daemon(parse_config(text, "cam.yaml", {}), ApiConfig(enabled=False))
    task = await started(daemon)
    try:

        def seen(state: dict[str, bytes]) -> bool:
            return (
                "homeassistant/sensor/box1/yard_fps/config" in state
                and "vigil/yard/state" in state
                and any("/cam_whole_" in t for t in state)
                and any("/cam_all_" in t for t in state)
            )

        before = await settled(broker.port, seen)
        assert json.loads(before["vigil/yard/state"])["state"] in ("connecting", "streaming")
        fps = json.loads(before["homeassistant/sensor/box1/yard_fps/config"])
        assert fps["state_topic"] == "vigil/yard/state" and fps["unit_of_measurement"] == "fps"
        yard = {t for t in before if "/yard/" in t or "/yard_" in t}
        assert len(yard) >= 5  # state; the state, fps, last event and snapshot entities

        async with Subscriber(broker.port, EVERYTHING) as sub:
            await daemon.remove_stream("yard")
            await sub.wait_for(lambda: all(b"" in sub.payloads(t) for t in yard), timeout=10)
        assert not {t for t in await retained(broker.port, EVERYTHING) if "yard" in t}

        whole = {t for t in before if "/cam_whole_" in t or "/zones/whole/" in t}
        camera = {t for t in before if t.startswith("homeassistant/") and "/cam_" in t} - whole
        async with Subscriber(broker.port, EVERYTHING) as sub:
            await daemon.reload(parse_config(yaml(clip, nudenet_path, tmp_path, broker.port, ["all"]), "cam.yaml", {}))
            await sub.wait_for(lambda: all(b"" in sub.payloads(t) for t in whole), timeout=10)
            assert not [t for t in camera if b"" in sub.payloads(t)]  # the camera's and zone 'all''s entities stay
        after = await retained(broker.port, EVERYTHING)
        assert not {t for t in after if "whole" in t} and camera <= set(after)
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)
    closed = await retained(broker.port, EVERYTHING)
    assert closed["vigil/status"] == b"offline" and camera <= set(closed)
