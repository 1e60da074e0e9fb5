"""Any transformers object detector (`hf-detector`) equals transformers' own path: the processor,
the forward and the processor's `post_process_object_detection` on each photo alone, batched
and one image at a time, for every family in tests/support/hf_detectors.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers

from tests.conftest import photo
from tests.support.hf_detectors import FAMILIES, LABELS, assert_same_detections, detector_folder
from tests.support.tiny_hf import as_model_dir
from vigil.engine import AutoModel, Detections, ObjectDetectionModel

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # 512x512, 400x600, 300x451, 427x640
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return [photo(name) for name in PHOTOS]


def reference(folder: Path, images: list[np.ndarray], threshold: float) -> list[dict[str, Any]]:
    """transformers alone: each image through the processor, the model (in float32) and the
    processor's post-processing at its own size (boxes clipped to the image, as vigil does)."""
    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    model = transformers.AutoModelForObjectDetection.from_pretrained(folder, dtype=torch.float32).eval()
    out = []
    for image in images:
        inputs = processor(images=[np.ascontiguousarray(image[:, :, ::-1])], return_tensors="pt")
        with torch.no_grad():
            outputs = model(**inputs)
        (result,) = processor.post_process_object_detection(outputs, threshold=threshold, target_sizes=[image.shape[:2]])
        h, w = image.shape[:2]
        out.append(
            {
                "boxes": np.clip(result["boxes"].numpy(), 0, [w, h, w, h]),
                "scores": result["scores"].numpy(),
                "labels": result["labels"].numpy(),
            }
        )
    return out


def threshold_between_scores(refs: list[dict[str, Any]]) -> float:
    """A threshold in the widest gap between the middle half of all scores: it keeps many boxes
    and drops many, and no score lies near it (a batched forward may move a score by ~1e-7)."""
    scores = np.sort(np.concatenate([r["scores"] for r in refs]))
    middle = scores[len(scores) // 4 : 3 * len(scores) // 4]
    gaps = np.diff(middle)
    i = int(np.argmax(gaps))
    assert gaps[i] > 1e-4, f"no gap between the scores to put a threshold in: {middle}"
    return float((middle[i] + middle[i + 1]) / 2)


def assert_matches(dets: Detections, ref: dict[str, Any], image: np.ndarray) -> None:
    """The same boxes (within 1e-5 of the image's size), scores (1e-5) and classes, in any order."""
    assert list(dets.data["class_name"]) == [LABELS[int(i)] for i in dets.class_id]
    got = (dets.xyxy, dets.confidence, dets.class_id)
    assert_same_detections(got, (ref["boxes"], ref["scores"], ref["labels"]), TOLERANCE * max(image.shape[:2]), TOLERANCE)


@pytest.mark.parametrize("family", FAMILIES)
def test_detections_equal_post_process_object_detection_batched_and_unbatched(
    family: str, images: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = detector_folder(family, tmp_path_factory)
    threshold = threshold_between_scores(reference(folder, images, 0.0))
    refs = reference(folder, images, threshold)
    kept = sum(len(r["scores"]) for r in refs)
    assert kept >= 10 and len({int(label) for r in refs for label in r["labels"]}) >= 2  # many boxes, several classes

    model = AutoModel.from_pretrained(folder, confidence=threshold)
    assert isinstance(model, ObjectDetectionModel)
    assert model.class_names == tuple(LABELS.values())
    for dets, ref, image in zip(model(images), refs, images):
        assert_matches(dets, ref, image)
    for image, ref in zip(images, refs):
        assert_matches(model(image)[0], ref, image)
    model.close()


@pytest.mark.parametrize(("family", "forwards"), [("detr", 3), ("yolos", 2), ("rt-detr", 1), ("d-fine", 1)])
def test_a_batch_runs_one_forward_per_processed_shape(
    family: str, forwards: int, images: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """DETR-style processors keep the aspect ratio: the two astronauts share a forward, the
    other photos have their own (YOLOS pads coffee and rocket to one shape); RT-DETR's and
    D-FINE's resize every image to one size."""
    model = AutoModel.from_pretrained(detector_folder(family, tmp_path_factory), confidence=0.0)
    batch = [images[0], images[1], images[0], images[3]]
    prepared = model.pre_process(batch)
    groups = prepared.tensor
    assert len(groups) == forwards
    assert sorted(i for indices, _ in groups for i in indices) == [0, 1, 2, 3]
    results = model.post_process(model.forward(prepared), prepared)
    alone = [model(image)[0] for image in batch]
    for dets, single, image in zip(results, alone, batch):
        assert_matches(dets, {"boxes": single.xyxy, "scores": single.confidence, "labels": single.class_id}, image)


def test_max_det_keeps_the_highest_scores(images: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = detector_folder("rt-detr", tmp_path_factory)
    everything = AutoModel.from_pretrained(folder, confidence=0.0)(images[1])[0]
    top = AutoModel.from_pretrained(folder, confidence=0.0, max_det=5)(images[1])[0]
    assert len(everything) > 5 and len(top) == 5
    np.testing.assert_allclose(np.sort(top.confidence), np.sort(everything.confidence)[-5:], atol=0)


def test_a_model_directory_package_runs_the_same(
    images: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    folder = detector_folder("d-fine", tmp_path_factory)
    root = as_model_dir(folder, tmp_path / "dfine", "hf-detector", "detect")
    packaged = AutoModel.from_pretrained(root, confidence=0.3)
    plain = AutoModel.from_pretrained(folder, confidence=0.3)
    assert packaged.class_names == plain.class_names == tuple(LABELS.values())
    for a, b, image in zip(packaged(images), plain(images), images):
        assert_matches(a, {"boxes": b.xyxy, "scores": b.confidence, "labels": b.class_id}, image)


def test_a_bfloat16_save_runs_in_float32_on_the_cpu(
    images: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """transformers 5 loads weights in the dtype they were saved in; float32 pixels into a
    bfloat16 network would fail in the first convolution."""
    folder = detector_folder("rt-detr", tmp_path_factory)
    half = tmp_path / "rt-detr-bf16"
    transformers.AutoModelForObjectDetection.from_pretrained(folder).to(torch.bfloat16).save_pretrained(half)
    transformers.AutoImageProcessor.from_pretrained(folder).save_pretrained(half)
    model = AutoModel.from_pretrained(half, confidence=0.0)
    assert model.net.dtype == torch.float32
    for dets, ref, image in zip(model(images), reference(half, images, 0.0), images):
        assert_matches(dets, ref, image)
