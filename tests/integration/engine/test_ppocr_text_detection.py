"""PP-OCR's text detector alone, loaded from the OCR package with `task="detect"`: the quads
the full model reads, rapidocr's box scores, and signs moving across a real H.264 clip."""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from tests.conftest import photo
from tests.support.text_signs import SignInFrame, TextSignsClip, sign_board, text_signs_clip
from vigil.engine import AutoModel
from vigil.engine._private.importers import import_rapidocr
from vigil.engine.base import ObjectDetectionModel
from vigil.engine.detections import Detections
from vigil.engine.models.ppocr import _detection as det
from vigil.errors import ModelLoadError


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = Path(str(importlib.resources.files("rapidocr_onnxruntime")))
    return import_rapidocr(source, tmp_path_factory.mktemp("ppocr"), tmp_path_factory.mktemp("ppocr-scratch"))


@pytest.fixture(scope="module")
def detector(model_dir: Path) -> Iterator[Any]:
    loaded = AutoModel.from_pretrained(model_dir, task="detect")
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def full(model_dir: Path) -> Iterator[Any]:
    loaded = AutoModel.from_pretrained(model_dir)
    yield loaded
    loaded.close()


def _on_photo(texts: list[str], angle: float = 0.0) -> np.ndarray:
    """Sign boards stacked on the coffee photo, the whole picture turned by `angle` degrees."""
    image = cv2.resize(photo("coffee"), (640, 480), interpolation=cv2.INTER_AREA)
    for i, text in enumerate(texts):
        board, _ = sign_board(text)
        y = 40 + i * 130
        image[y : y + board.shape[0], 60 : 60 + board.shape[1]] = board
    turn = cv2.getRotationMatrix2D((320, 240), angle, 1.0)
    return cv2.warpAffine(image, turn, (640, 480), borderMode=cv2.BORDER_REPLICATE)


def _printed_lines() -> np.ndarray:
    image = np.full((300, 560, 3), 255, np.uint8)
    for i, line in enumerate(["PARKING LEVEL 3", "EXIT 24 HOURS", "ZONE B-17"]):
        cv2.putText(image, line, (30, 70 + 80 * i), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (0, 0, 0), 3, cv2.LINE_AA)
    return image


def _wide_strip() -> np.ndarray:
    # wider than 8:1: padded with black bands above and below before detection
    image = np.full((48, 900, 3), 255, np.uint8)
    cv2.putText(image, "SPEED LIMIT 60 NEXT EXIT 3 KM", (10, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2)
    return image


def _full_hd() -> np.ndarray:
    image = cv2.resize(photo("rocket"), (1920, 1080), interpolation=cv2.INTER_AREA)
    image[700:760, 1300:1700] = 235
    cv2.putText(image, "CAM 04 2024-06-01", (1310, 740), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2, cv2.LINE_AA)
    return image


IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "signs_on_photo": lambda: _on_photo(["AB 123", "CX 4471", "GATE 7"]),
    "turned_signs": lambda: _on_photo(["AB 123", "CX 4471"], angle=-9),
    "upside_down": lambda: cv2.rotate(_on_photo(["DELIVERY 12"]), cv2.ROTATE_180),
    "printed_lines": _printed_lines,
    "wide_strip": _wide_strip,
    "full_hd": _full_hd,
}


def _full_models_detector_step(full: Any, image: np.ndarray) -> np.ndarray:
    """The full model's line quads before recognition (and its text-score filter), in the
    caller's pixels."""
    prepared = full.pre_process([image])
    (lines,) = full.forward(prepared)
    return det.to_original(np.array(lines.quads), prepared.meta[0])


# -- the same lines as the full model ----------------------------------------------------------


@pytest.mark.parametrize("name", list(IMAGES))
def test_detector_quads_equal_the_full_models_quads_before_recognition(name: str, detector: Any, full: Any) -> None:
    image = IMAGES[name]()
    (found,) = detector(image)
    expected = _full_models_detector_step(full, image)
    assert len(expected) >= 1, f"{name}: the full model found no line"
    np.testing.assert_array_equal(found.data["quad"], expected)
    # and every line the full model keeps after reading it is one of them, at the same place
    (read,) = full(image)
    assert len(read) >= 1
    kept = {tuple(q.ravel()) for q in found.data["quad"]}
    assert all(tuple(q.ravel()) in kept for q in read.quads), f"{name}: read {list(read.text)}"


@pytest.mark.parametrize("name", list(IMAGES))
def test_box_is_the_axis_aligned_box_around_the_quad(name: str, detector: Any) -> None:
    image = IMAGES[name]()
    (found,) = detector(image)
    quads = found.data["quad"]
    assert quads.shape == (len(found), 4, 2) and quads.dtype == np.float32
    np.testing.assert_array_equal(found.xyxy[:, :2], quads.min(axis=1))
    np.testing.assert_array_equal(found.xyxy[:, 2:], quads.max(axis=1))
    h, w = image.shape[:2]
    assert (found.xyxy >= 0).all() and (found.xyxy[:, [0, 2]] <= w).all() and (found.xyxy[:, [1, 3]] <= h).all()


class _ScoreRecorder:
    """Stands in for rapidocr's DB post-process and records the box scores it computes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.scores: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        boxes, scores = self.inner(*args, **kwargs)
        self.scores.extend(float(s) for s in scores)
        return boxes, scores


@pytest.mark.parametrize("name", ["signs_on_photo", "turned_signs", "printed_lines", "full_hd"])
def test_confidence_is_rapidocrs_box_score(name: str, detector: Any) -> None:
    from rapidocr_onnxruntime import RapidOCR

    rapidocr = RapidOCR()
    recorder = _ScoreRecorder(rapidocr.text_det.postprocess_op)
    rapidocr.text_det.postprocess_op = recorder
    image = IMAGES[name]()
    rapidocr(image)
    (found,) = detector(image)
    assert len(found) == len(recorder.scores) >= 1
    np.testing.assert_allclose(np.sort(found.confidence), np.sort(recorder.scores), rtol=0, atol=1e-6)
    assert (found.confidence >= 0.5).all(), "below det_box_thresh: DB drops such boxes"


# -- the object-detector surface ---------------------------------------------------------------


def test_task_detect_loads_an_object_detector_of_text_boxes(detector: Any, full: Any, model_dir: Path) -> None:
    assert isinstance(detector, ObjectDetectionModel)
    assert type(detector).__name__ == "PPOCRTextDetectionONNX"
    assert detector.class_names == ("text",)
    assert detector.metadata.task == "detect" and full.metadata.task == "ocr"
    assert detector.package_dir == full.package_dir == model_dir / "onnx"
    assert detector.batch == full.batch
    (found,) = detector(_on_photo(["AB 123"]))
    assert len(found) == 1
    assert list(found.class_id) == [0] and list(found.class_name) == ["text"]


@pytest.mark.parametrize("shape", [(480, 640, 3), (16, 16, 3), (1080, 1920, 3)])
def test_image_without_text_gives_empty_detections_with_the_same_columns(detector: Any, shape: tuple[int, ...]) -> None:
    (found,) = detector(np.full(shape, 128, np.uint8))
    assert isinstance(found, Detections) and len(found) == 0
    assert found.data["quad"].shape == (0, 4, 2) and found.class_name is not None and len(found.class_name) == 0


def test_batch_of_mixed_sizes_equals_one_by_one_and_staged_calls(detector: Any) -> None:
    images = [IMAGES[name]() for name in ("printed_lines", "wide_strip", "signs_on_photo")] + [np.zeros((64, 64, 3), np.uint8)]
    batched = detector(images)
    prepared = detector.pre_process(images)
    staged = detector.post_process(detector.forward(prepared), prepared)
    assert [len(r) for r in batched] == [3, 1, 3, 0]
    for image, together, in_stages in zip(images, batched, staged):
        (alone,) = detector(image)
        for other in (together, in_stages):
            np.testing.assert_array_equal(other.xyxy, alone.xyxy)
            np.testing.assert_array_equal(other.confidence, alone.confidence)
            np.testing.assert_array_equal(other.data["quad"], alone.data["quad"])


@pytest.mark.parametrize("task", ["segment", "classify", "no-such-task"])
def test_task_the_architecture_has_no_implementation_of_is_refused_naming_what_exists(model_dir: Path, task: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        AutoModel.from_pretrained(model_dir, task=task)
    message = str(info.value)
    assert f"task '{task}'" in message and "ppocr-v4-ch" in message and "'detect', 'ocr'" in message


def test_yolo_model_cannot_be_loaded_as_ocr(nudenet_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"'yolo' models as 'classify', 'detect', 'pose', 'segment'"):
        AutoModel.from_pretrained(nudenet_path, task="ocr")


def test_task_equal_to_the_models_own_loads_the_usual_model(model_dir: Path) -> None:
    loaded = AutoModel.from_pretrained(model_dir, task="ocr")
    try:
        assert type(loaded).__name__ == "PPOCRONNX"
        assert list(loaded(_on_photo(["AB 123"]))[0].text) == ["AB 123"]
    finally:
        loaded.close()


# -- moving signs in a real clip ---------------------------------------------------------------


@pytest.fixture(scope="module")
def signs_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[TextSignsClip, list[np.ndarray]]:
    truth = text_signs_clip(tmp_path_factory.mktemp("signs") / "signs.mp4", signs=("AB 123", "CX 4471"))
    with av.open(str(truth.path)) as container:
        frames = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    return truth, frames


def _iou(a: Any, b: Any) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _match(found: Detections, sign: SignInFrame) -> int | None:
    """The detection over the sign's printed text (IoU >= 0.5), if any."""
    assert sign.text_box is not None
    ious = [_iou(box, sign.text_box) for box in found.xyxy]
    best = int(np.argmax(ious)) if ious else None
    return best if best is not None and ious[best] >= 0.5 else None


def _grown_crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    # A tight line crop is blown up to the detector's 736-pixel minimum side and read as
    # scattered glyphs; a margin of one line height on each side keeps it readable.
    x0, y0, x1, y1 = (int(v) for v in np.round(box))
    m = y1 - y0
    return image[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m]


def test_clip_signs_enter_and_leave_the_frame(signs_clip: tuple[TextSignsClip, list[np.ndarray]]) -> None:
    truth, frames = signs_clip
    assert len(frames) == len(truth.frames) == 46
    assert truth.frames[0] == () and truth.frames[-1] == ()
    for text in ("AB 123", "CX 4471"):
        seen = [i for i, f in enumerate(truth.frames) if any(s.text == text for s in f)]
        full_view = [i for i, f in enumerate(truth.frames) if any(s.text == text and s.fully_visible for s in f)]
        assert len(full_view) >= 10 and seen[0] < full_view[0] and full_view[-1] < seen[-1]
        boxes = [s.board_box for i in full_view for s in truth.frames[i] if s.text == text]
        assert len({b[0] for b in boxes}) == len(boxes), "the sign moves every frame"


def test_detector_finds_and_full_model_reads_each_fully_visible_sign(
    signs_clip: tuple[TextSignsClip, list[np.ndarray]], detector: Any, full: Any
) -> None:
    truth, frames = signs_clip
    visible = found = read = 0
    misreads = []
    for i, (image, signs) in enumerate(zip(frames, truth.frames)):
        whole = [s for s in signs if s.fully_visible]
        if not whole:
            continue
        (dets,) = detector(image)
        for sign in whole:
            visible += 1
            j = _match(dets, sign)
            if j is None:
                continue
            found += 1
            texts = list(full(_grown_crop(image, dets.xyxy[j]))[0].text)
            read += texts == [sign.text]
            misreads += [] if texts == [sign.text] else [(i, sign.text, texts)]
    # Seen here: 32 of 32 sign-frames found, 32 of 32 read exactly.
    assert visible == 32
    assert found / visible >= 0.9, f"found {found} of {visible}"
    assert read / visible >= 0.8, f"read {read} of {visible}: {misreads}"
