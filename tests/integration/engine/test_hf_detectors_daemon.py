"""A transformers object detector (a tiny random-weight RT-DETR `save_pretrained` folder) runs in
the daemon like any detector, from the YAML: two cameras batched into one model, each frame's
detections equal to the detector run on that frame alone, tracked, a zone's events, and a
classifier cascade on its boxes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.conftest import encode_clip, photo
from tests.support.hf_detectors import LABELS, assert_same_detections, detector_folder
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.config.loader import parse_config
from vigil.daemon.service import Daemon
from vigil.engine import AutoModel

FRAMES = 30
CONFIDENCE = 0.6
NEAR = 1e-4  # a score this close to the threshold may fall either side of it in another batch


@pytest.fixture(scope="module")
def cameras(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hf-detector-cams")
    return {
        name: encode_clip(folder / f"{name}.mp4", photo(name), frames=FRAMES, size=(320, 240), fps=10)
        for name in ("astronaut", "coffee")
    }


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def config_text(folder: Path, cameras: dict[str, Path], classifier: Path, out: Path) -> str:
    sources = "".join(
        f"  - name: {name}\n    url: {clip}\n    models: [det]\n    tracking: {{}}\n"
        "    zones: [{name: all, polygon: [[0, 0], [1, 0], [1, 1], [0, 1]], normalized: true}]\n"
        "    cascades: [{model: kind, every: detection, vote: false, min_size: 8}]\n"
        for name, clip in cameras.items()
    )
    return f"""models:
  det: {{path: {folder}, confidence: {CONFIDENCE}}}
  kind: {{path: {classifier}}}
batch: {{max_batch: 4, max_delay_ms: 100}}
sources:
{sources}sinks:
  - {{kind: jsonl, path: {out}, records: [results, events]}}
api: {{enabled: false}}
"""


async def test_an_hf_detector_is_batched_tracked_zoned_and_cascaded_in_the_daemon(
    cameras: dict[str, Path], golden_dir: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = detector_folder("rt-detr", tmp_path_factory)
    out = tmp_path / "out.jsonl"
    config = parse_config(config_text(folder, cameras, golden_dir / "models" / "yolov8n-cls.onnx", out), "hf.yaml", {})
    assert isinstance(config, DaemonConfig)
    daemon = Daemon(config, ApiConfig(enabled=False))
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_ready(), 120)
    for _ in range(1200):  # up to about 120 s on a loaded machine
        results = [r for r in lines_of(out) if r.get("record") != "event"]
        if all(sum(1 for r in results if r["source"] == name) >= FRAMES for name in cameras):
            break
        await asyncio.sleep(0.1)
    batches = daemon.pipeline.report.batches
    daemon.stop()
    await asyncio.wait_for(task, 60)

    records = lines_of(out)
    results = [r for r in records if r.get("record") != "event"]
    events = [r for r in records if r.get("record") == "event"]
    assert {name: sum(1 for r in results if r["source"] == name) for name in cameras} == {name: FRAMES for name in cameras}
    assert batches < len(results), "frames of the two cameras were batched"

    detector = AutoModel.from_pretrained(folder, confidence=CONFIDENCE)
    frames = {name: decoded(clip) for name, clip in cameras.items()}
    detections = [d for r in results for d in r["detections"]]
    for record in results:
        image = frames[record["source"]][record["seq"]]
        (alone,) = detector(image)
        sure = alone.confidence >= CONFIDENCE + NEAR
        got = [d for d in record["detections"] if d["confidence"] >= CONFIDENCE + NEAR]
        assert all(d["confidence"] >= CONFIDENCE for d in record["detections"])
        assert [d["class_name"] for d in got] == [LABELS[d["class_id"]] for d in got]
        assert_same_detections(
            (np.reshape([d["xyxy"] for d in got], (-1, 4)), [d["confidence"] for d in got], [d["class_id"] for d in got]),
            (alone.xyxy[sure], alone.confidence[sure], alone.class_id[sure]),
            box_atol=1e-2,
            score_atol=2e-5,
            where=f"{record['source']} frame {record['seq']}",
        )
    detector.close()

    assert len(detections) >= FRAMES, "random weights still give boxes above the threshold"
    assert all(isinstance(d["tracker_id"], int) for d in detections)
    assert any(d["tracker_id"] >= 0 for d in detections), "some boxes are tracked"
    classified = [d["attached"]["kind"] for d in detections if d.get("attached", {}).get("kind")]
    assert classified and all(a["kind"] == "classification" and a["label"] for a in classified)
    assert {e["type"] for e in events} >= {"object_start", "zone_enter"}
    assert {e["zone"] for e in events if e["type"] == "zone_enter"} == {"all"}
    assert {e["class_name"] for e in events} <= set(LABELS.values())
