"""Broken `hf` packages are refused with a message naming the file and what to do."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.support.tiny_hf import as_model_dir, build_clip, build_dpt, build_owlv2
from vigil.engine import AutoModel
from vigil.errors import MissingDependencyError, ModelLoadError


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture
def clip_copy(clip_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(clip_dir, tmp_path / "clip-copy"))


def test_missing_processor_config_names_the_file_and_how_to_save_it(clip_copy: Path) -> None:
    (clip_copy / "processor_config.json").unlink()
    with pytest.raises(
        ModelLoadError, match=r"preprocessor_config\.json or processor_config\.json\) is missing.*CLIPProcessor\.save_pretrained"
    ):
        AutoModel.from_pretrained(clip_copy)


def test_missing_processor_config_in_a_model_directory_package_is_refused_at_load(clip_dir: Path, tmp_path: Path) -> None:
    root = as_model_dir(clip_dir, tmp_path / "clip-model", "clip", "embed")
    files = json.loads((root / "hf" / "package.json").read_text())
    files["files"] = [f for f in files["files"] if f["name"] != "processor_config.json"]
    (root / "hf" / "package.json").write_text(json.dumps(files))
    (root / "hf" / "processor_config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"processor's config .* is missing"):
        AutoModel.from_pretrained(root)


def test_an_architecture_vigil_does_not_run_lists_the_ones_it_does(clip_copy: Path) -> None:
    config = json.loads((clip_copy / "config.json").read_text())
    config["architectures"] = ["CLIPForImageClassification"]
    (clip_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ModelLoadError,
        match=r"CLIPForImageClassification, which vigil does not run.*CLIPModel \(clip/embed\).*Owlv2ForObjectDetection",
    ):
        AutoModel.from_pretrained(clip_copy)


def test_model_json_naming_another_architecture_than_the_package_config_is_refused(tmp_path: Path) -> None:
    dpt = build_dpt(tmp_path / "dpt")
    root = as_model_dir(dpt, tmp_path / "says-clip", "clip", "embed")
    with pytest.raises(ModelLoadError, match=r"model\.json says architecture 'clip'.*DPTForDepthEstimation"):
        AutoModel.from_pretrained(root)


def test_weights_of_another_shape_than_the_config_are_refused(clip_copy: Path) -> None:
    weights = load_file(clip_copy / "model.safetensors")
    weights["visual_projection.weight"] = torch.zeros(8, 32)
    save_file(weights, clip_copy / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(
        ModelLoadError,
        match=r"model\.safetensors does not fit .*config\.json: 1 weight.*visual_projection\.weight is \[8, 32\] in the file, \[16, 32\] in the config.*save_pretrained",
    ):
        AutoModel.from_pretrained(clip_copy)


def test_weights_missing_from_the_file_are_refused_not_initialised_at_random(clip_copy: Path) -> None:
    weights = load_file(clip_copy / "model.safetensors")
    del weights["text_projection.weight"]
    save_file(weights, clip_copy / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(
        ModelLoadError, match=r"model\.safetensors does not fit.*1 weight\(s\) missing.*text_projection\.weight missing"
    ):
        AutoModel.from_pretrained(clip_copy)


def test_pickled_weights_only_are_refused(clip_copy: Path) -> None:
    (clip_copy / "model.safetensors").rename(clip_copy / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"no model\.safetensors.*does not load pickled"):
        AutoModel.from_pretrained(clip_copy)


def test_without_transformers_the_error_names_the_extra(clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'vigil-analytics\[hf\]'"):
        AutoModel.from_pretrained(clip_dir)


def test_a_static_batch_hf_package_is_refused_with_what_to_write(clip_dir: Path, tmp_path: Path) -> None:
    root = as_model_dir(clip_dir, tmp_path / "clip-static", "clip", "embed", batch={"static": 4})
    with pytest.raises(ModelLoadError, match=r"runs any batch size.*static 4.*\"min\": 1, \"max\": N"):
        AutoModel.from_pretrained(root)


def test_owlv2_without_scipy_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = build_owlv2(tmp_path / "owl")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "scipy" else real(name, *a))
    with pytest.raises(MissingDependencyError, match=r"Owlv2Processor needs scipy: pip install 'vigil-analytics\[hf\]'"):
        AutoModel.from_pretrained(folder)
