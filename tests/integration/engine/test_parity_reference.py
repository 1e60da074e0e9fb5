"""Parity on inputs that are not in shared/golden: vigil's vectorised pre/post-processing against
the plain loop-by-loop reading of Ultralytics' predictor in tests/reference_ultralytics.py, both
on the same real onnxruntime session of the nudenet YOLOv8n."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from tests import reference_ultralytics as ref
from tests.conftest import photo
from tests.parity import assert_detections_match
from vigil.engine import AutoModel


def canvas_with_astronaut(h: int, w: int, seed: int) -> np.ndarray:
    """A grey canvas of odd size with the astronaut pasted at a random scale and place."""
    rng = np.random.default_rng(seed)
    out = np.full((h, w, 3), 64, np.uint8)
    side = int(min(h, w) * rng.uniform(0.4, 0.9))
    face = cv2.resize(photo("astronaut"), (side, side), interpolation=cv2.INTER_AREA)
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    out[y : y + side, x : x + side] = face
    return out


INPUTS = {
    "cat": lambda: photo("cat"),
    "immunohistochemistry": lambda: photo("immunohistochemistry"),
    "hubble_deep_field": lambda: photo("hubble_deep_field"),
    "colorwheel": lambda: photo("colorwheel"),
    "coins_gray": lambda: photo("coins"),
    "text_gray": lambda: photo("text"),
    "canvas_333x517": lambda: canvas_with_astronaut(333, 517, 1),
    "canvas_1080x1920": lambda: canvas_with_astronaut(1080, 1920, 2),
    "canvas_961x127": lambda: canvas_with_astronaut(961, 127, 3),
    "canvas_49x77": lambda: canvas_with_astronaut(49, 77, 4),
}


@pytest.fixture(scope="module")
def session(nudenet_path):
    return ort.InferenceSession(str(nudenet_path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("imgsz", [320, 640])
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_vigil_matches_reference_reading_of_ultralytics(nudenet_path, session, imgsz, name):
    image = INPUTS[name]()
    conf = 0.05  # low, so NMS has real work
    model = AutoModel.from_pretrained(nudenet_path, image_size=imgsz, confidence=conf)
    (ours,) = model([image])

    tensor = ref.to_tensor([ref.letterbox(image, (imgsz, imgsz), auto=True)])
    pred = session.run(None, {"images": tensor})[0][0]
    boxes, scores, classes = ref.postprocess(pred, 18, conf, 0.7, tensor.shape[2:], image.shape[:2])
    assert_detections_match(ours, boxes, scores, classes, label=f"{name}@{imgsz}")


def test_reference_comparison_is_not_vacuous(nudenet_path):
    model = AutoModel.from_pretrained(nudenet_path, image_size=640, confidence=0.05)
    counts = [len(model([make()])[0]) for make in INPUTS.values()]
    assert sum(counts) >= 20 and sum(c > 0 for c in counts) >= 6
