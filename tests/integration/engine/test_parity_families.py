"""Segmentation, pose and classification parity with Ultralytics' predictions in shared/golden."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.parity import assert_detections_match, iou_matrix, is_stable
from vigil.engine import AutoModel, ClassificationPrediction

pytestmark = pytest.mark.golden


def load(golden_dir: Path, name: str) -> dict:
    return json.loads((golden_dir / "predictions" / name).read_text())


def read(golden_dir: Path, name: str) -> np.ndarray:
    return cv2.imread(str(golden_dir / "images" / name), cv2.IMREAD_COLOR)


def rle_decode(rle: dict) -> np.ndarray:
    """COCO uncompressed RLE: runs alternate 0/1 starting with 0, column-major."""
    h, w = rle["size"]
    values = np.zeros(h * w, bool)
    position, value = 0, False
    for run in rle["counts"]:
        values[position : position + run] = value
        position, value = position + run, not value
    return values.reshape((h, w), order="F")


def matches(ours, entry) -> list[tuple[int, int]]:
    """(our index, golden index) pairs whose boxes agree (IoU >= 0.99)."""
    gold = np.asarray(entry["boxes_xyxy"], np.float64).reshape(-1, 4)
    if len(ours) == 0 or len(gold) == 0:
        return []
    ious = iou_matrix(ours.xyxy, gold)
    return [(i, int(np.argmax(ious[i]))) for i in range(len(ours)) if ious[i].max() >= 0.99]


def test_segmentation_matches_ultralytics_boxes_and_masks(golden_dir):
    gold = load(golden_dir, "yolov8n-seg.json")
    path = golden_dir / "models" / "yolov8n-seg.onnx"
    checked_masks = 0
    for name, entry in gold["images"].items():
        model = AutoModel.from_pretrained(path, confidence=entry["conf"], iou=gold["iou"])
        image = read(golden_dir, name)
        (dets,) = model([image])
        label = f"seg:{name}"
        assert_detections_match(
            dets, entry["boxes_xyxy"], entry["confidence"], entry["class_id"], stable=is_stable(entry), label=label
        )
        assert dets.mask is not None and dets.mask.shape[1:] == image.shape[:2]
        for i, j in matches(dets, entry):
            gold_mask = rle_decode(entry["masks"]["rle_orig"][j])
            inter = np.logical_and(dets.mask[i], gold_mask).sum()
            union = np.logical_or(dets.mask[i], gold_mask).sum()
            if union == 0:  # a sliver that vanishes when scaled to the original size, in both
                continue
            assert inter / union >= 0.95, f"{label}: mask {i} IoU {inter / union:.3f}"
            checked_masks += 1
    assert checked_masks >= 50


def test_pose_matches_ultralytics_boxes_and_keypoints(golden_dir):
    gold = load(golden_dir, "yolov8n-pose.json")
    path = golden_dir / "models" / "yolov8n-pose.onnx"
    checked = 0
    for name, entry in gold["images"].items():
        model = AutoModel.from_pretrained(path, confidence=entry["conf"], iou=gold["iou"])
        (dets,) = model([read(golden_dir, name)])
        label = f"pose:{name}"
        assert_detections_match(
            dets, entry["boxes_xyxy"], entry["confidence"], entry["class_id"], stable=is_stable(entry), label=label
        )
        assert dets.keypoints is not None and dets.keypoints.shape[1:] == (17, 2)
        for i, j in matches(dets, entry):
            np.testing.assert_allclose(dets.keypoints[i], entry["keypoints_xy"][j], atol=0.5, err_msg=label)
            np.testing.assert_allclose(dets.keypoint_confidence[i], entry["keypoints_conf"][j], atol=1e-3, err_msg=label)
            checked += 1
    assert checked >= 30


def test_classification_matches_ultralytics_top5_and_probs(golden_dir):
    gold = load(golden_dir, "yolov8n-cls.json")
    model = AutoModel.from_pretrained(golden_dir / "models" / "yolov8n-cls.onnx")
    for name, entry in gold["images"].items():
        image = read(golden_dir, name)
        assert list(model.pre_process([image]).tensor.shape) == entry["input_shape"]
        (pred,) = model([image])
        assert isinstance(pred, ClassificationPrediction)
        assert pred.top_k.tolist() == entry["top5"], name
        np.testing.assert_allclose(pred.probs, entry["probs"], atol=1e-3, err_msg=name)
        np.testing.assert_allclose(pred.top_k_confidence, entry["top5_probs"], atol=1e-3, err_msg=name)
