"""OWLv2 through an `hf` package equals the processor + forward + the processor's own
post-processing on real photos, as a zero-shot model and as a prompted pipeline detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

from tests.conftest import photo
from tests.support.tiny_hf import build_owlv2
from vigil.engine import AutoModel, Detections, ObjectDetectionModel, PromptedDetector, ZeroShotDetectionModel
from vigil.errors import ModelLoadError

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
PROMPTS = ["a person", "a red car", "a cup of coffee"]
THRESHOLD = 0.75  # random weights: some of the 16 boxes pass, others not, so the threshold matters


@pytest.fixture(scope="module")
def owl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_owlv2(tmp_path_factory.mktemp("owl") / "tiny-owlv2")


def reference(folder: Path, images: list[np.ndarray], prompts: list[str], threshold: float) -> list[dict]:
    processor = transformers.Owlv2Processor.from_pretrained(folder)
    model = transformers.Owlv2ForObjectDetection.from_pretrained(folder).eval()
    pil = [Image.fromarray(np.ascontiguousarray(img[:, :, ::-1])) for img in images]
    inputs = processor(text=[prompts] * len(pil), images=pil, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs)
    sizes = [(img.shape[0], img.shape[1]) for img in images]
    return processor.post_process_grounded_object_detection(
        outputs, threshold=threshold, target_sizes=sizes, text_labels=[prompts] * len(pil)
    )


def assert_matches(dets: Detections, ref: dict, image: np.ndarray) -> None:
    h, w = image.shape[:2]
    boxes = np.clip(ref["boxes"].numpy(), 0, [w, h, w, h])  # vigil clips boxes to the image
    assert len(dets) == len(ref["scores"])
    np.testing.assert_allclose(dets.xyxy, boxes, atol=1e-5 * max(h, w), rtol=0)
    np.testing.assert_allclose(dets.confidence, ref["scores"].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(dets.class_id, ref["labels"].numpy())
    assert list(dets.data["class_name"]) == list(ref["text_labels"])


def test_owlv2_detect_equals_the_processor_post_processing_batched_and_unbatched(owl_dir: Path) -> None:
    images = [photo(name) for name in PHOTOS]
    model = AutoModel.from_pretrained(owl_dir)
    assert isinstance(model, ZeroShotDetectionModel)
    refs = reference(owl_dir, images, PROMPTS, THRESHOLD)
    assert any(0 < len(r["scores"]) < 16 for r in refs)  # the threshold keeps some boxes, drops others
    batched = model.detect(images, PROMPTS, threshold=THRESHOLD)
    for dets, ref, image in zip(batched, refs, images):
        assert_matches(dets, ref, image)
    for image, ref in zip(images, refs):
        assert_matches(model.detect(image, PROMPTS, threshold=THRESHOLD)[0], ref, image)


def test_owlv2_with_prompts_is_a_detector_the_pipeline_batches(owl_dir: Path) -> None:
    images = [photo(name) for name in PHOTOS]
    detector = AutoModel.from_pretrained(owl_dir, prompts=PROMPTS, confidence=THRESHOLD)
    as_task = AutoModel.from_pretrained(owl_dir, task="detect", prompts=PROMPTS, confidence=THRESHOLD)
    assert isinstance(detector, PromptedDetector) and isinstance(as_task, ObjectDetectionModel)
    assert detector.class_names == tuple(PROMPTS)
    refs = reference(owl_dir, images, PROMPTS, THRESHOLD)
    prepared = detector.pre_process(images)
    staged = detector.post_process(detector.forward(prepared), prepared)
    for dets, ref, image in zip(staged, refs, images):
        assert_matches(dets, ref, image)
    for dets, ref, image in zip(as_task(images), refs, images):
        assert_matches(dets, ref, image)


def test_owlv2_as_detect_task_without_prompts_says_how_to_give_them(owl_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"needs its prompts.*prompts=\["):
        AutoModel.from_pretrained(owl_dir, task="detect")


def test_one_zero_shot_model_serves_several_prompt_lists(owl_dir: Path) -> None:
    """Per-camera prompts: one set of weights, one PromptedDetector per prompt list."""
    model = AutoModel.from_pretrained(owl_dir)
    people, cups = PromptedDetector(model, ["a person"], THRESHOLD), PromptedDetector(model, ["a cup of coffee"], THRESHOLD)
    image = photo("coffee")
    assert people.zero_shot is cups.zero_shot
    for detector, prompts in ((people, ["a person"]), (cups, ["a cup of coffee"])):
        assert_matches(detector([image])[0], reference(owl_dir, [image], prompts, THRESHOLD)[0], image)
