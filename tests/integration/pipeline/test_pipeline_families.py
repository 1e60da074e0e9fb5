"""Segmentation, pose and classification models through `vigil run`: masks, keypoints and the
frame's class reach the JSONL."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.integration.cli.test_cli_run import vigil
from tests.integration.engine.test_parity_families import rle_decode
from vigil.sinks.jsonl import mask_rle


@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (0, 3)])
def test_mask_rle_round_trips(shape):
    mask = np.random.default_rng(0).random(shape) > 0.5
    if mask.size:
        mask[0, 0] = True  # runs must start with a zero-length run of zeros
    encoded = mask_rle(mask)
    assert encoded["size"] == list(shape)
    if mask.size:
        np.testing.assert_array_equal(rle_decode(encoded), mask)


@pytest.mark.parametrize("model_name, key", [("yolov8n-seg", "mask"), ("yolov8n-pose", "keypoints")])
def test_run_writes_masks_and_keypoints(tmp_path, clips, golden_dir, model_name, key):
    out = tmp_path / "r.jsonl"
    proc = vigil(
        "run",
        "--model",
        str(golden_dir / "models" / f"{model_name}.onnx"),
        "--source",
        str(clips["astronaut"]),
        "--out",
        str(out),
        "--confidence",
        "0.5",
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 24
    detections = [d for r in records for d in r["detections"]]
    assert detections and all(key in d for d in detections)
    if key == "mask":
        mask = rle_decode(detections[0]["mask"])
        assert mask.shape == (480, 640) and mask.any()
    else:
        assert all(len(d["keypoints"]) == 17 and len(d["keypoints"][0]) == 3 for d in detections)


def test_run_classifies_every_frame_as_the_classifier_does_alone(tmp_path, clips, golden_dir):
    import av

    from vigil.engine import AutoModel

    model_path = golden_dir / "models" / "yolov8n-cls.onnx"
    out = tmp_path / "r.jsonl"
    proc = vigil("run", "--model", str(model_path), "--source", str(clips["coffee"]), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    with av.open(str(clips["coffee"])) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(records) == len(frames) > 0
    classifier = AutoModel.from_pretrained(model_path)
    direct = classifier(frames)
    for record, alone in zip(sorted(records, key=lambda r: r["seq"]), direct):
        assert record["detections"] == []  # a whole-frame class, no objects
        top = record["classification"]["top_k"]
        assert [c["class_id"] for c in top] == alone.top_k.tolist()
        np.testing.assert_allclose([c["confidence"] for c in top], alone.top_k_confidence, atol=1e-5)
