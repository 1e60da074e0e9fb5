"""`vigil models export DIR --to onnx`: a DETR-family detector's ONNX package equals transformers.

For RT-DETR, RT-DETRv2, D-FINE, DETR and Conditional DETR (tiny random-weight folders from
tests/support/hf_detectors.py): the graph's raw outputs equal the torch model's on the same pixel
tensor, and vigil's detections (its own numpy pre- and post-processing, no transformers) equal
the processor + `post_process_object_detection`, within 1e-4, at batch 1 and 3, on photos of
different sizes.

Random weights make RT-DETR's encoder scores nearly tie: the tiny models' features hardly depend
on the image, so its top-k of queries is a matter of 1e-7 that onnxruntime and torch order
differently. The RT-DETR-style models here therefore take every encoder position as a query
(64x64 input: 8x8 + 4x4 + 2x2 = 84), so no query is in or out by a tie, and their outputs are
compared query by query after matching (the decoder treats its queries alike whatever their order:
`query_set_difference`). DETR and Conditional DETR have no top-k in the graph and are compared
in order.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
import transformers

from tests.conftest import photo
from tests.support.hf_detectors import LABELS, detector_folder
from vigil.cli.main import main
from vigil.engine import AutoModel, ObjectDetectionModel
from vigil.engine._private.hf_export import query_set_difference
from vigil.engine.developer_tools import read_model_dir

FAMILIES = ("rt-detr", "rt-detr-v2", "d-fine", "detr", "conditional-detr")
KEEP_ASPECT = ("detr", "conditional-detr")  # dynamic height and width, no top-k inside the graph
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # 512x512, 400x600, 300x451, 427x640
TOLERANCE = 1e-4
ALL_POSITIONS = 84
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return [photo(name) for name in PHOTOS]


def spread_folder(family: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny folder of tests/support/hf_detectors.py with every weight moved a little (seeded),
    the class heads without bias and, for the RT-DETR-style models, every encoder position a query."""
    source = detector_folder(family, tmp_path_factory)
    folder = tmp_path_factory.mktemp(f"export-{family}") / "hf"
    overrides: dict[str, Any] = {} if family in KEEP_ASPECT else {"num_queries": ALL_POSITIONS}
    net = transformers.AutoModelForObjectDetection.from_pretrained(source, **overrides).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in net.named_parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
            if re.search(r"class|score", name) and name.endswith("bias"):
                param.zero_()  # else one class's bias wins every query
    net.save_pretrained(folder)
    transformers.AutoImageProcessor.from_pretrained(source).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", params=FAMILIES)
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """(family, transformers folder, exported model directory), exported through the CLI."""
    family = request.param
    folder = spread_folder(family, tmp_path_factory)
    out = folder.parent / "onnx-model"
    assert main(["models", "export", str(folder), "--to", "onnx", "--out", str(out)]) == 0
    return family, folder, out


def torch_outputs(folder: Path, pixels: torch.Tensor) -> list[np.ndarray]:
    net = transformers.AutoModelForObjectDetection.from_pretrained(folder).eval()
    with torch.no_grad():
        out = net(pixel_values=pixels)
    return [out.logits.numpy(), out.pred_boxes.numpy()]


def processed(folder: Path, images: list[np.ndarray]) -> torch.Tensor:
    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    return processor(images=[np.ascontiguousarray(img[:, :, ::-1]) for img in images], return_tensors="pt")["pixel_values"]


def reference(folder: Path, image: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """transformers alone on one image: processor, model, post_process_object_detection, boxes
    clipped to the image (as vigil's hf and onnx packages do)."""
    pixels = processed(folder, [image])
    net = transformers.AutoModelForObjectDetection.from_pretrained(folder).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    with torch.no_grad():
        outputs = net(pixel_values=pixels)
    (result,) = processor.post_process_object_detection(outputs, threshold=threshold, target_sizes=[image.shape[:2]])
    h, w = image.shape[:2]
    return {
        "boxes": np.clip(result["boxes"].numpy(), 0, [w, h, w, h]),
        "scores": result["scores"].numpy(),
        "labels": result["labels"].numpy(),
    }


def threshold_in_a_gap(refs: list[dict[str, np.ndarray]]) -> float:
    """A threshold in the widest gap of the middle half of all scores: many boxes kept, many
    dropped, and no score within 1e-4 of it."""
    scores = np.sort(np.concatenate([r["scores"] for r in refs]))
    middle = scores[len(scores) // 4 : 3 * len(scores) // 4]
    gaps = np.diff(middle)
    i = int(np.argmax(gaps))
    assert gaps[i] > 2 * TOLERANCE, f"no gap between the scores to put a threshold in: {middle}"
    return float((middle[i] + middle[i + 1]) / 2)


def assert_same_detections(dets: Any, ref: dict[str, np.ndarray], image: np.ndarray) -> None:
    """Same count; each reference detection has one of vigil's of the same class with the box
    within 1e-4 of the image's size and the score within 1e-4 (in any order: near-equal scores)."""
    assert len(dets) == len(ref["scores"])
    unused = set(range(len(dets)))
    box_tolerance = TOLERANCE * max(image.shape[:2])
    for box, score, label in zip(ref["boxes"], ref["scores"], ref["labels"]):
        match = [
            j
            for j in unused
            if dets.class_id[j] == label
            and abs(dets.confidence[j] - score) <= TOLERANCE
            and np.abs(dets.xyxy[j] - box).max() <= box_tolerance
        ]
        assert match, f"no detection of class {label} with score {score:.6f} at {box}"
        unused.remove(match[0])
    assert list(dets.data["class_name"]) == [LABELS[int(i)] for i in dets.class_id]


def test_the_package_is_an_onnx_model_directory_with_a_dynamic_batch(exported: tuple[str, Path, Path]) -> None:
    family, folder, out = exported
    model, packages = read_model_dir(out)
    assert model.architecture == {"rt-detr-v2": "rt-detr"}.get(family, family) and model.task == "detect"
    assert model.parameters.get("top_k") == (100 if family == "conditional-detr" else None)
    assert model.class_names == tuple(LABELS.values())
    (package,) = packages
    assert (package.package_id, package.backend, package.batch.describe()) == ("onnx", "onnx", "1..any")
    assert [f.name for f in package.files] == ["model.onnx"]
    session = ort.InferenceSession(str(out / "onnx" / "model.onnx"))
    shape = session.get_inputs()[0].shape
    assert isinstance(shape[0], str)  # the batch axis is symbolic
    assert all(isinstance(d, str) for d in shape[2:]) == (family in KEEP_ASPECT)  # DETR: any height and width
    saved = json.loads((folder / "config.json").read_text())["architectures"][0]
    assert model.parameters["exported_from"] == saved


@pytest.mark.parametrize("batch", [1, 3])
def test_raw_outputs_equal_transformers_on_the_same_pixels(
    exported: tuple[str, Path, Path], images: list[np.ndarray], batch: int
) -> None:
    family, folder, out = exported
    session = ort.InferenceSession(str(out / "onnx" / "model.onnx"))
    # DETR keeps the aspect ratio: a batch of one photo (the processor would pad different ones)
    chosen = images[:batch] if family not in KEEP_ASPECT else [images[1]] * batch
    pixels = processed(folder, chosen)
    want = torch_outputs(folder, pixels)
    have = session.run(None, {"pixel_values": pixels.numpy()})
    assert [a.shape for a in have] == [a.shape for a in want]
    for image in range(batch):
        if family in KEEP_ASPECT:
            assert max(float(np.abs(w[image] - h[image]).max()) for w, h in zip(want, have)) <= TOLERANCE
        else:
            assert query_set_difference(want, have, image) <= TOLERANCE


def test_vigil_prepares_the_same_pixels_as_the_processor(exported: tuple[str, Path, Path], images: list[np.ndarray]) -> None:
    _, folder, out = exported
    model = AutoModel.from_pretrained(out)
    for image in images:
        (_, tensor), *rest = model.pre_process([image]).meta[1]
        assert not rest
        np.testing.assert_allclose(tensor, processed(folder, [image]).numpy(), atol=1e-6, rtol=0)
    model.close()


def test_detections_equal_post_process_object_detection_batched_and_alone(
    exported: tuple[str, Path, Path], images: list[np.ndarray]
) -> None:
    _, folder, out = exported
    threshold = threshold_in_a_gap([reference(folder, image, 0.0) for image in images])
    refs = [reference(folder, image, threshold) for image in images]
    assert sum(len(r["scores"]) for r in refs) >= 8
    model = AutoModel.from_pretrained(out, confidence=threshold)
    assert isinstance(model, ObjectDetectionModel) and model.package_id == "onnx"
    for dets, ref, image in zip(model(images[:3]), refs, images):  # batch 3
        assert_same_detections(dets, ref, image)
    for image, ref in zip(images, refs):  # batch 1
        assert_same_detections(model(image)[0], ref, image)
    model.close()


def test_a_mixed_batch_runs_one_forward_per_shape(exported: tuple[str, Path, Path], images: list[np.ndarray]) -> None:
    """DETR keeps the aspect ratio and is not padded: the two astronauts share a forward, the
    others have their own; the fixed-size families run the whole batch in one."""
    family, _, out = exported
    model = AutoModel.from_pretrained(out, confidence=0.0)
    batch = [images[0], images[1], images[0], images[3]]
    prepared = model.pre_process(batch)
    assert len(prepared.meta[1]) == (3 if family in KEEP_ASPECT else 1)
    together = model.post_process(model.forward(prepared), prepared)
    for dets, image in zip(together, batch):
        alone = model(image)[0]
        ref = {"boxes": alone.xyxy, "scores": alone.confidence, "labels": alone.class_id}
        assert_same_detections(dets, ref, image)
    model.close()


def test_max_det_keeps_the_highest_scores(exported: tuple[str, Path, Path], images: list[np.ndarray]) -> None:
    _, _, out = exported
    everything = AutoModel.from_pretrained(out, confidence=0.0)(images[1])[0]
    top = AutoModel.from_pretrained(out, confidence=0.0, max_det=5)(images[1])[0]
    assert len(everything) > 5 and len(top) == 5
    np.testing.assert_allclose(np.sort(top.confidence), np.sort(everything.confidence)[-5:], atol=0)


def test_the_package_runs_where_torch_and_transformers_cannot_be_imported(exported: tuple[str, Path, Path]) -> None:
    _, _, out = exported
    script = (
        "import sys, json\n"
        "sys.modules['torch'] = None; sys.modules['transformers'] = None  # any import of them fails\n"
        "from tests.conftest import photo\n"
        "from vigil.engine import AutoModel\n"
        f"dets = AutoModel.from_pretrained({str(out)!r}, confidence=0.0)(photo('coffee'))[0]\n"
        "print(json.dumps(dets.xyxy.tolist()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    here = AutoModel.from_pretrained(out, confidence=0.0)(photo("coffee"))[0]
    np.testing.assert_array_equal(np.asarray(json.loads(done.stdout), dtype=np.float32).reshape(-1, 4), here.xyxy)
