"""An exported DETR (`vigil models export --to onnx`) runs in the daemon like any detector, from
the YAML: two cameras of different shapes batched into one model (DETR keeps each frame's aspect
ratio, so a batch runs one forward per shape), each frame's detections equal to the package run
on that frame alone, and tracked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.conftest import encode_clip, photo
from tests.integration.engine.test_hf_export import assert_same_detections, spread_folder
from vigil.cli.main import main
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.config.loader import parse_config
from vigil.daemon.service import Daemon
from vigil.engine import AutoModel, Detections

FRAMES = 20
CONFIDENCE = 0.3


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_an_exported_detr_is_batched_and_tracked_in_the_daemon(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    model_dir = tmp_path / "detr-onnx"
    assert main(["models", "export", str(spread_folder("detr", tmp_path_factory)), "--to", "onnx", "--out", str(model_dir)]) == 0
    cameras = {
        "coffee": encode_clip(tmp_path / "coffee.mp4", photo("coffee"), frames=FRAMES, size=(320, 240), fps=10),
        "astronaut": encode_clip(tmp_path / "astronaut.mp4", photo("astronaut"), frames=FRAMES, size=(240, 320), fps=10),
    }
    out = tmp_path / "out.jsonl"
    sources = "".join(
        f"  - name: {name}\n    url: {clip}\n    models: [det]\n    tracking: {{}}\n" for name, clip in cameras.items()
    )
    text = (
        f"models:\n  det: {{path: {model_dir}, confidence: {CONFIDENCE}}}\n"
        "batch: {max_batch: 4, max_delay_ms: 100}\n"
        f"sources:\n{sources}sinks:\n  - {{kind: jsonl, path: {out}, records: [results]}}\napi: {{enabled: false}}\n"
    )
    config = parse_config(text, "export.yaml", {})
    assert isinstance(config, DaemonConfig)
    daemon = Daemon(config, ApiConfig(enabled=False))
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_ready(), 120)
    for _ in range(1200):  # up to about 120 s on a loaded machine
        if all(sum(1 for r in lines_of(out) if r["source"] == name) >= FRAMES for name in cameras):
            break
        await asyncio.sleep(0.1)
    batches = daemon.pipeline.report.batches
    daemon.stop()
    await asyncio.wait_for(task, 60)

    results = lines_of(out)
    assert {name: sum(1 for r in results if r["source"] == name) for name in cameras} == {name: FRAMES for name in cameras}
    assert batches < len(results), "frames of the two cameras were batched"
    detector = AutoModel.from_pretrained(model_dir, confidence=CONFIDENCE)
    frames = {name: decoded(clip) for name, clip in cameras.items()}
    for record in results:
        image = frames[record["source"]][record["seq"]]
        (alone,) = detector(image)
        got = record["detections"]
        batched = Detections(
            np.reshape([d["xyxy"] for d in got], (-1, 4)),
            [d["confidence"] for d in got],
            [d["class_id"] for d in got],
            data={"class_name": np.asarray([d["class_name"] for d in got])},
        )
        ref = {"boxes": alone.xyxy, "scores": alone.confidence, "labels": alone.class_id}
        assert_same_detections(batched, ref, image)  # in any order: near-equal scores
    detector.close()
    detections = [d for r in results for d in r["detections"]]
    assert len(detections) >= FRAMES, "random weights still give boxes above the threshold"
    assert any(d["tracker_id"] >= 0 for d in detections), "some boxes are tracked"
