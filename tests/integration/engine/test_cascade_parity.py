"""Cascades on real models: what a secondary attaches to a detection equals that model run directly
on the same crop, with the crops of several images batched together."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.conftest import FACE_CLASSES, photo
from vigil.engine import (
    AutoModel,
    CascadeRule,
    ClassificationPrediction,
    Detections,
    ModelCascade,
    attach,
    attached,
    crop,
    run_secondary,
    select,
)
from vigil.engine._private.importers import import_rapidocr
from vigil.errors import ModelLoadError

SCORE_TOL = 1e-5


def face_images() -> list[np.ndarray]:
    """The astronaut photo, mirrored, shrunk, and twice side by side: faces in every image."""
    astronaut = photo("astronaut")
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    return [astronaut, mirrored, cv2.resize(astronaut, (384, 384)), np.hstack([astronaut, mirrored])]


def count_calls(model: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Wrap `model.forward`; the returned list gets each call's batch size."""
    sizes: list[int] = []
    forward = model.forward

    def counted(batch: Any) -> Any:
        sizes.append(len(batch.tensor))
        return forward(batch)

    monkeypatch.setattr(model, "forward", counted)
    return sizes


@pytest.fixture(scope="module")
def classifier_path(golden_dir: Path) -> Path:
    return golden_dir / "models" / "yolov8n-cls.onnx"


@pytest.fixture(scope="module")
def classifier(classifier_path: Path) -> Any:
    model = AutoModel.from_pretrained(classifier_path)
    yield model
    model.close()


@pytest.fixture(scope="module")
def ppocr(tmp_path_factory: pytest.TempPathFactory) -> Any:
    source = Path(str(importlib.resources.files("rapidocr_onnxruntime")))
    folder = import_rapidocr(source, tmp_path_factory.mktemp("ppocr"), tmp_path_factory.mktemp("ppocr-scratch"))
    model = AutoModel.from_pretrained(folder)
    yield model
    model.close()


def assert_same_classification(ours: Any, direct: ClassificationPrediction, label: str) -> None:
    assert ours.kind == "classification", label
    assert [class_id for class_id, _, _ in ours.top_k] == direct.top_k.tolist(), label
    scores = [score for _, _, score in ours.top_k]
    np.testing.assert_allclose(scores, direct.top_k_confidence, atol=SCORE_TOL, err_msg=label)
    assert ours.label == direct.class_name and abs(ours.confidence - direct.confidence) <= SCORE_TOL, label


@pytest.mark.golden
def test_face_classifications_equal_the_classifier_run_directly_on_each_crop(
    nudenet_path: Path, classifier_path: Path, classifier: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = face_images()
    options = {"classes": sorted(FACE_CLASSES), "pad": 0.1}
    with ModelCascade.from_pretrained(nudenet_path, {"face": (classifier_path, options)}) as cascade:
        secondary, rule = cascade.secondaries["face"]
        assert rule.min_size == 8  # the classifier's smallest crop, as no min_size was given
        sizes = count_calls(secondary, monkeypatch)
        results = cascade(images)
    crops = 0
    for n, (image, dets) in enumerate(zip(images, results)):
        faces = np.isin(dets.class_name, sorted(FACE_CLASSES))
        assert faces.any(), f"image {n}: no face found"
        for i, outputs in enumerate(attached(dets)):
            assert ("face" in outputs) == bool(faces[i]), f"image {n}, detection {i}"
            if "face" in outputs:
                (direct,) = classifier([np.ascontiguousarray(crop(image, dets.xyxy[i], 0.1))])
                assert_same_classification(outputs["face"], direct, f"image {n}, detection {i}")
                crops += 1
    assert crops >= 5  # the side-by-side image has two faces
    # Every crop of every image went to the classifier in one batch.
    assert sizes == [crops]


@pytest.mark.golden
def test_crops_run_in_batches_of_at_most_max_batch(classifier: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    image = photo("astronaut")
    crops = [crop(image, (x, 60, x + 90 + 7 * x // 40, 200)) for x in range(0, 400, 40)]
    sizes = count_calls(classifier, monkeypatch)
    outputs = run_secondary(classifier, crops, "face", max_batch=4, top_k=3)
    assert sizes == [4, 4, 2]
    monkeypatch.undo()
    for n, (ours, piece) in enumerate(zip(outputs, crops)):
        (direct,) = classifier([piece])
        assert len(ours.top_k) == 3 and ours.model == "face"
        assert [c for c, _, _ in ours.top_k] == direct.top_k[:3].tolist(), f"crop {n}"
        np.testing.assert_allclose([s for _, _, s in ours.top_k], direct.top_k_confidence[:3], atol=SCORE_TOL)


@pytest.mark.golden
def test_a_classifier_cascade_refuses_a_min_size_below_8_px(nudenet_path: Path, classifier_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cascade 'face': min_size 4 px is below .* set min_size to 8 or more"):
        ModelCascade.from_pretrained(nudenet_path, {"face": (classifier_path, {"min_size": 4})})


# -- OCR on crops --------------------------------------------------------------------------------

SIGNS = {"GATE 42": (40, 300), "EXIT 7": (300, 60)}


def scene_with_signs() -> tuple[np.ndarray, Detections]:
    """Two white boards with two words each pasted into a photo, and a detection over each
    board (where they were pasted) plus one over the sky, which holds no text."""
    image = photo("coffee").copy()
    boxes = []
    for words, (x, y) in SIGNS.items():
        board = np.full((90, 230, 3), 255, np.uint8)
        cv2.putText(board, words, (12, 62), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3, cv2.LINE_AA)
        image[y : y + 90, x : x + 230] = board
        boxes.append([x, y, x + 230, y + 90])
    boxes.append([560, 5, 598, 40])  # a plain corner of the photo
    dets = Detections(
        xyxy=boxes, confidence=[0.9, 0.8, 0.7], class_id=[0, 0, 0], data={"class_name": np.array(["sign", "sign", "sign"])}
    )
    return image, dets


def test_text_read_on_sign_crops_equals_ppocr_run_directly_and_the_rendered_words(
    ppocr: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, dets = scene_with_signs()
    rule = CascadeRule("sign", classes=frozenset({"sign"}), min_size=16, pad=0.1)
    index = select(rule, dets, image.shape)
    assert index.tolist() == [0, 1, 2]
    crops = [crop(image, dets.xyxy[i], rule.pad) for i in index]
    sizes = count_calls(ppocr, monkeypatch)
    attach(dets, "sign", index, run_secondary(ppocr, crops, "sign"))
    assert sizes == [3]
    monkeypatch.undo()
    outputs = [a["sign"] for a in attached(dets)]
    for n, (ours, piece) in enumerate(zip(outputs, crops)):
        (direct,) = ppocr([piece])
        assert ours.kind == "text" and ours.top_k == ()
        assert [text for text, _ in ours.lines] == list(direct.text), f"crop {n}"
        np.testing.assert_allclose([s for _, s in ours.lines], direct.confidence, atol=SCORE_TOL)
        assert ours.label == " ".join(direct.text)
    for ours, words in zip(outputs, SIGNS):
        assert ours.label.replace(" ", "") == words.replace(" ", ""), ours
        assert ours.confidence > 0.9
    assert outputs[2].label == "" and outputs[2].lines == () and outputs[2].confidence == 0.0
