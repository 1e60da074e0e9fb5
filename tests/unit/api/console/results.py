"""Real `InferenceResult`s for the live view's tests: the astronaut photo at 640x480, shifted a
little per frame so consecutive frames differ, with a box where her face is."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

import cv2
import numpy as np

from tests.conftest import photo
from tests.support.results import T0
from vigil import Frame
from vigil.engine import Detections
from vigil.result import InferenceResult, Overlay, Timings

SIZE = (640, 480)
FACE_BOX = (220.0, 40.0, 360.0, 200.0)  # xyxy in the 640x480 frame, around the astronaut's face


@lru_cache(maxsize=1)
def _astronaut() -> np.ndarray:
    return cv2.resize(photo("astronaut"), SIZE, interpolation=cv2.INTER_AREA)


def picture(seq: int = 0) -> np.ndarray:
    """The astronaut at 640x480, rolled `seq` pixels sideways (BGR uint8)."""
    return np.ascontiguousarray(np.roll(_astronaut(), seq, axis=1))


def face_result(
    source: str = "cam1",
    seq: int = 0,
    image: np.ndarray | None = None,
    tracker_id: int | None = None,
    overlays: tuple[Overlay, ...] = (),
) -> InferenceResult:
    """Frame `seq` of `source` with one FACE_FEMALE detection at FACE_BOX."""
    dets = Detections(
        xyxy=np.array([FACE_BOX], np.float32),
        confidence=np.array([0.87], np.float32),
        class_id=np.array([0]),
        data={"class_name": np.array(["FACE_FEMALE"])},
        tracker_id=None if tracker_id is None else np.array([tracker_id]),
    )
    frame = Frame(source, seq, seq / 30, T0 + timedelta(seconds=seq / 30), picture(seq) if image is None else image)
    return InferenceResult(frame, "320n", dets, Timings(1.0, 2.0, 3.0, 0.5, 7.0), overlays)


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG OpenCV can decode"
    return image
