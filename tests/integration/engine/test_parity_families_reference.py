"""Segmentation, pose and classification on inputs that are not in shared/golden: vigil's
vectorised post-processing against the one-mask / one-keypoint-at-a-time reading in
tests/reference_ultralytics.py, on the same real onnxruntime session of each golden export."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from tests import reference_ultralytics as ref
from tests.integration.engine.test_parity_reference import INPUTS
from tests.parity import assert_detections_match, iou_matrix
from vigil.engine import AutoModel

pytestmark = pytest.mark.golden
NAMES = sorted(INPUTS)


def conf_for(pred: np.ndarray, nc: int, rank: int = 40) -> float:
    """A threshold that leaves about `rank` candidates, halfway between two scores (no ties)."""
    best = np.sort(pred[4 : 4 + nc].max(axis=0))[::-1]
    return float((best[rank] + best[rank + 1]) / 2)


def run_raw(path, image, auto=True):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tensor = ref.to_tensor([ref.letterbox(image, (640, 640), auto=auto)])
    return tensor, session.run(None, {"images": tensor})


@pytest.mark.parametrize("name", NAMES)
def test_segmentation_matches_reference_on_new_inputs(golden_dir, name):
    path = golden_dir / "models" / "yolov8n-seg.onnx"
    image = INPUTS[name]()
    tensor, (pred, protos) = run_raw(path, image)
    conf = conf_for(pred[0], 80)
    expected = ref.segment(pred[0], protos[0], 80, conf, 0.7, tensor.shape[2:], image.shape[:2])
    (ours,) = AutoModel.from_pretrained(path, confidence=conf)([image])
    assert len(expected) > 0
    assert_detections_match(ours, [e[0] for e in expected], [e[1] for e in expected], [e[2] for e in expected], label=name)
    ious = iou_matrix(ours.xyxy, np.array([e[0] for e in expected]))
    for i in range(len(ours)):
        mask = expected[int(np.argmax(ious[i]))][3]
        union = np.logical_or(ours.mask[i], mask).sum()
        assert union == 0 or np.logical_and(ours.mask[i], mask).sum() / union >= 0.99


@pytest.mark.parametrize("name", NAMES)
def test_pose_matches_reference_on_new_inputs(golden_dir, name):
    path = golden_dir / "models" / "yolov8n-pose.onnx"
    image = INPUTS[name]()
    tensor, (pred,) = run_raw(path, image)
    conf = conf_for(pred[0], 1)
    expected = ref.pose(pred[0], 1, (17, 3), conf, 0.7, tensor.shape[2:], image.shape[:2])
    (ours,) = AutoModel.from_pretrained(path, confidence=conf)([image])
    assert len(expected) > 0
    assert_detections_match(ours, [e[0] for e in expected], [e[1] for e in expected], [e[2] for e in expected], label=name)
    ious = iou_matrix(ours.xyxy, np.array([e[0] for e in expected]))
    for i in range(len(ours)):
        e = expected[int(np.argmax(ious[i]))]
        np.testing.assert_allclose(ours.keypoints[i], e[3], atol=0.5)
        np.testing.assert_allclose(ours.keypoint_confidence[i], e[4], atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_classification_matches_reference_on_new_inputs(golden_dir, name):
    path = golden_dir / "models" / "yolov8n-cls.onnx"
    image = INPUTS[name]()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probs = session.run(None, {"images": ref.classify_tensor(image, 224)})[0][0]
    (ours,) = AutoModel.from_pretrained(path)([image])
    assert ours.top_k.tolist() == np.argsort(-probs, kind="stable")[:5].tolist()
    np.testing.assert_allclose(ours.probs, probs, atol=1e-5)
