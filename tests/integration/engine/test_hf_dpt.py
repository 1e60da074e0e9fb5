"""DPT and Depth Anything through an `hf` package equal the processor + forward + the
processor's own `post_process_depth_estimation` on real photos of different sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

from tests.conftest import photo
from tests.support.tiny_hf import build_depth_anything, build_dpt
from vigil.engine import AutoModel, DepthModel

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


@pytest.fixture(scope="module", params=["dpt", "depth-anything"])
def depth_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = build_dpt if request.param == "dpt" else build_depth_anything
    return build(tmp_path_factory.mktemp(request.param) / f"tiny-{request.param}")


def reference(folder: Path, images: list[np.ndarray]) -> list[np.ndarray]:
    """One image at a time: Depth Anything's processor keeps the aspect ratio, so photos of
    different shapes cannot share a batch."""
    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    model = transformers.AutoModelForDepthEstimation.from_pretrained(folder).eval()
    maps = []
    for img in images:
        pil = Image.fromarray(np.ascontiguousarray(img[:, :, ::-1]))
        with torch.no_grad():
            outputs = model(**processor(images=[pil], return_tensors="pt"))
        maps.append(processor.post_process_depth_estimation(outputs, target_sizes=[img.shape[:2]])[0]["predicted_depth"].numpy())
    return maps


def test_depth_equals_the_processor_post_processing_batched_and_unbatched(depth_dir: Path) -> None:
    images = [photo(name) for name in PHOTOS]
    model = AutoModel.from_pretrained(depth_dir)
    assert isinstance(model, DepthModel)
    refs = reference(depth_dir, images)
    batched = model.depth(images)
    singles = [model.depth(image)[0] for image in images]
    for image, ref, got, single in zip(images, refs, batched, singles):
        assert got.shape == image.shape[:2] and got.dtype == np.float32
        assert float(np.ptp(ref)) > 1e-3  # a real map, not a constant the comparison would pass on
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
        np.testing.assert_allclose(single, ref, atol=1e-5, rtol=0)


def test_frames_of_one_size_run_as_one_batch(depth_dir: Path) -> None:
    model = AutoModel.from_pretrained(depth_dir)
    frames = [photo("astronaut"), photo("astronaut")[::-1].copy(), photo("coffee")]
    prepared = model.pre_process(frames)
    # DPT resizes every image to 32x32; Depth Anything keeps the aspect ratio (coffee is 3:2)
    expected = [3] if depth_dir.name == "tiny-dpt" else [1, 2]
    assert sorted(len(indices) for indices, _ in prepared.tensor) == expected
    refs = reference(depth_dir, frames)
    for got, ref in zip(model.post_process(model.forward(prepared), prepared), refs):
        np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
