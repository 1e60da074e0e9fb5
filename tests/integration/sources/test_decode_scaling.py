"""Scaling in the decoder end to end: a real 1280x720 H.264 clip (the astronaut's face walking over
the coffee photo, made with PyAV), cameras with `decode_size`, the real daemon with the real
YOLOv8n (nudenet 320n), its tracker and zones stage, a JSONL sink and the API; and the motion
gate on scaled pictures."""

from __future__ import annotations

import asyncio
import json
import logging
from fractions import Fraction
from pathlib import Path

import aiohttp
import av
import cv2
import pytest

from tests.conftest import photo
from tests.integration.daemon.test_daemon_api import TOKEN, started, until
from tests.integration.sources.test_rtsp import FAST, RtspServer, take
from tests.integration.sources.test_rtsp import started as started_server
from tests.integration.sources.test_sources import collect
from tests.support.scripted_clip import face_crop
from vigil.config.loader import parse_config
from vigil.config.motion import MaskConfig, MotionConfig
from vigil.daemon.service import Daemon
from vigil.sources import FileSource, RTSPSource
from vigil.sources._scaling import DecodeSize
from vigil.sources.motion import MotionGate

FULL, FPS, FRAMES = (1280, 720), 25, 100
STILL = 30  # frames before the face appears (a still scene for the motion gate)
STEP = 8  # px a frame at 1280x720: 4 px at 640x360
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def walking_face(path: Path) -> Path:
    """The face twice its size in face_clip (so 640x360 shows it as face_clip's 640x480 does),
    at (STEP * (t - STILL), 140) from frame STILL on: in 640x360 pixels it ends at x 280..460."""
    face = cv2.resize(face_crop(), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    fh, fw = face.shape[:2]
    background = cv2.resize(photo("coffee"), FULL, interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *FULL, "yuv420p"
        stream.options = {"crf": "20", "g": "25", "bf": "2", "preset": "veryfast"}
        stream.time_base = Fraction(1, FPS * 512)
        for t in range(FRAMES):
            image = background.copy()
            if t >= STILL:
                x = STEP * (t - STILL)
                image[140 : 140 + fh, x : x + fw] = face
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return walking_face(tmp_path_factory.mktemp("decode-scaling") / "walk720p.mp4")


def yaml(clip: Path, nudenet_path: Path, out: Path) -> str:
    return f"""model:
  path: {nudenet_path}
sources:
  - name: small
    url: {clip}
    decode_size: [640, 360]
    tracking:
      classes: [FACE_FEMALE, FACE_MALE]
      track_activation_threshold: 0.5
      high_confidence_threshold: 0.5
    zones:
      - {{name: right, polygon: [[200, 0], [640, 0], [640, 360], [200, 360]]}}
  - name: fitted
    url: {clip}
    decode_size: model
sinks:
  - {{kind: jsonl, path: {out}, records: [results, events]}}
"""


async def test_cameras_decoded_at_a_smaller_size_detect_and_zone_in_its_pixels(clip, nudenet_path, tmp_path):
    out = tmp_path / "out.jsonl"
    config = parse_config(yaml(clip, nudenet_path, out), "cam.yaml", {})
    daemon = Daemon(config, config.api.model_copy(update={"port": 0, "token": TOKEN}))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    try:
        async with aiohttp.ClientSession(headers=AUTH) as http:

            async def all_written() -> bool:  # every frame's result, from both cameras
                lines = out.read_text().splitlines() if out.exists() else []
                return sum('"detections"' in line for line in lines) >= 2 * FRAMES

            await until(all_written, timeout=120)
            streams = {s["name"]: s for s in (await (await http.get(f"{base}/api/v1/streams")).json())["streams"]}
            # the console's picture is the decoded one: 640x360, and 320x180 inside nudenet's 320x320 input
            assert (streams["small"]["width"], streams["small"]["height"]) == (640, 360)
            assert (streams["fitted"]["width"], streams["fitted"]["height"]) == (320, 180)

            # a zone drawn on the full-size picture is refused, by name
            body = {"zones": [{"name": "wide", "polygon": [[0, 0], [1280, 0], [1280, 720]]}], "lines": []}
            answer = await http.put(f"{base}/api/v1/streams/small/zones", json=body)
            text = await answer.text()
            assert answer.status == 422 and "zone 'wide'" in text and "640x360" in text, text
            # fitted to the model's 320x320 input: a zone beyond it is refused when the camera is added
            far = {"name": "far", "url": "rtsp://127.0.0.1:9/none", "decode_size": "model", "zones": [wide := body["zones"][0]]}
            answer = await http.post(f"{base}/api/v1/streams", json=far)
            text = await answer.text()
            assert answer.status == 400 and "source 'far'" in text and f"zone '{wide['name']}'" in text, text
            assert "320x320" in text and "far" not in [
                s["name"] for s in (await (await http.get(f"{base}/api/v1/streams")).json())["streams"]
            ]
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 60)

    records = [json.loads(line) for line in out.read_text().splitlines()]
    results = {name: [r for r in records if r.get("source") == name and "detections" in r] for name in ("small", "fitted")}
    assert [r["seq"] for r in results["small"]] == [r["seq"] for r in results["fitted"]] == list(range(FRAMES))
    for name, (width, height) in (("small", (640, 360)), ("fitted", (320, 180))):
        boxes = [d["xyxy"] for r in results[name] for d in r["detections"] if d["class_name"].startswith("FACE")]
        assert len(boxes) >= FRAMES - STILL - 10, f"{name}: the face is found in most frames it is in"
        assert all(0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height for x1, y1, x2, y2 in boxes)
    last = max(
        (d for d in results["small"][-1]["detections"] if d["class_name"].startswith("FACE")), key=lambda d: d["confidence"]
    )
    x1, _, x2, _ = last["xyxy"]
    end = 4 * (FRAMES - 1 - STILL)  # the crop's left edge in 640x360 pixels at the last frame
    assert end - 20 < x1 and x2 < end + 180 + 20, f"the face's box {last['xyxy']} is in 640x360 pixels"
    events = [r for r in records if r.get("source") == "small" and r.get("type") == "zone_enter"]
    assert [e["zone"] for e in events] == ["right"]


async def test_the_motion_gate_works_on_scaled_pictures_and_reads_masks_in_their_pixels(clip):
    plain = FileSource("cam", clip, decode_size=(640, 360), gates=[MotionGate(MotionConfig(enabled=True, keepalive_s=60))])
    frames = await collect(plain)
    assert all(f.image.shape == (360, 640, 3) for f in frames)
    times = [f.seq for f in frames]
    pts = [round(f.pts * FPS) for f in frames]
    assert pts[0] == 0 and not any(1 <= t < STILL for t in pts), "the still scene is skipped"
    assert set(range(STILL + 1, FRAMES)) <= set(pts), "the walk passes"
    assert plain.stats.skipped["motion"] == FRAMES - len(frames) and times == list(range(len(frames)))

    # a mask over the face's path, in 640x360 pixels (the whole walk: y 70..290, x 0..456)
    mask = MaskConfig(polygon=[(0, 50), (640, 50), (640, 310), (0, 310)])
    gate = MotionGate(MotionConfig(enabled=True, keepalive_s=60, masks=[mask]))
    masked = FileSource("cam", clip, decode_size=(640, 360), gates=[gate])
    assert [round(f.pts * FPS) for f in await collect(masked)] == [0]  # only the seeding frame


async def test_a_camera_fitted_to_a_model_input_is_found_at_its_first_connection_then_decoded_at_that_size(clip, caplog):
    server = started_server(RtspServer("--file", str(clip)))
    source = RTSPSource("cam", server.url("file"), decoder="pyav", decode_size=DecodeSize(320, 320, fit=True), reconnect=FAST)
    try:
        with caplog.at_level(logging.INFO, "vigil.sources"):
            await source.start()
            frames = await take(source, 10, timeout=30)
        assert all(f.image.shape == (180, 320, 3) for f in frames)
        assert "source 'cam': decoding 1280x720 pictures at 320x180 (fit inside 320x320)" in caplog.text
        assert source.scaling.output_size == (320, 180)  # a reconnection asks for it at once
    finally:
        await source.stop()
        server.stop()
