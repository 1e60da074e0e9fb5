"""CLIP through an `hf` package equals transformers' own CLIPModel forward on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

from tests.conftest import photo
from tests.support.tiny_hf import as_model_dir, build_clip
from vigil.engine import AutoModel, EmbeddingModel

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
TEXTS = ["a photo of a person", "a red car", "coffee"]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


def reference(folder: Path, images: list[np.ndarray], texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """CLIPProcessor + CLIPModel.forward: the model's own normalised embeddings."""
    processor = transformers.CLIPProcessor.from_pretrained(folder)
    model = transformers.CLIPModel.from_pretrained(folder).eval()
    pil = [Image.fromarray(np.ascontiguousarray(img[:, :, ::-1])) for img in images]
    inputs = processor(text=texts, images=pil, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**inputs)
    return out.image_embeds.numpy(), out.text_embeds.numpy()


def test_clip_embeddings_equal_the_model_forward_batched_and_unbatched(clip_dir: Path) -> None:
    images = [photo(name) for name in PHOTOS]
    assert len({img.shape for img in images}) > 1
    model = AutoModel.from_pretrained(clip_dir)
    assert isinstance(model, EmbeddingModel)
    ref_images, ref_texts = reference(clip_dir, images, TEXTS)
    batched = model.embed_images(images)
    assert batched.shape == (len(PHOTOS), 16) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, ref_images, atol=1e-5, rtol=0)
    one_by_one = np.concatenate([model.embed_images(img) for img in images])
    np.testing.assert_allclose(one_by_one, ref_images, atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(model.embed_texts(TEXTS), ref_texts, atol=1e-5, rtol=0)
    singles = np.concatenate([model.embed_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(singles, ref_texts, atol=1e-5, rtol=0)
    # different images give different vectors: the comparison above could fail
    assert not np.allclose(batched[0], batched[1], atol=1e-3)


def test_clip_model_directory_package_loads_like_the_bare_folder(clip_dir: Path, tmp_path: Path) -> None:
    root = as_model_dir(clip_dir, tmp_path / "clip-dir", "clip", "embed")
    model = AutoModel.from_pretrained(root)
    bare = AutoModel.from_pretrained(clip_dir)
    assert (model.model_id, model.package_id, model.batch.max) == ("clip-dir", "hf", 8)
    assert bare.package_id == "hf" and bare.model_id == "tiny-clip"
    image = photo("coffee")
    np.testing.assert_allclose(model.embed_images([image]), bare.embed_images([image]), atol=1e-6)


def test_models_resolve_ranks_the_hf_package_and_refuses_it_with_the_reason(clip_dir: Path) -> None:
    from tests.integration.cli.test_cli_run import vigil

    ranked = vigil("models", "resolve", str(clip_dir))
    assert ranked.returncode == 0, ranked.stderr
    assert "model tiny-clip (clip, embed)" in ranked.stdout
    assert any(line.split()[:2] == ["hf", "hf"] and "rank 1" in line for line in ranked.stdout.splitlines())
    refused = vigil("models", "resolve", str(clip_dir), "--backend", "onnx")
    assert refused.returncode == 1
    assert "refused: backend 'hf' not among the requested ['onnx']" in refused.stdout
