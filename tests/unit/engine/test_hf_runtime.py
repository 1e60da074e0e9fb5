"""The hf backend without loading a model: resolution, environment, options, import isolation."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vigil.engine import AutoModel, DetectionOptions
from vigil.engine._private import environment
from vigil.engine.behaviours import check_prompts
from vigil.engine.developer_tools import PackageMetadata, ResolutionRequest, RuntimeEnvironment, resolve
from vigil.errors import ModelInputError, ModelLoadError


def hf_package() -> PackageMetadata:
    return PackageMetadata.model_validate(
        {"package_id": "hf", "backend": "hf", "batch": {"min": 1}, "files": [{"name": "model.safetensors", "sha256": "0" * 64}]}
    )


def test_hf_package_is_refused_without_the_backend_and_the_reason_names_the_extra() -> None:
    env = RuntimeEnvironment(backends={"onnx": "1.32.0"})
    resolution = resolve([hf_package()], ResolutionRequest(), env)
    assert not resolution.candidates
    assert "backend 'hf' is not installed (pip install 'vigil-analytics[hf]')" in str(resolution.refused[0])


def test_hf_package_ranks_when_transformers_and_torch_are_there() -> None:
    env = RuntimeEnvironment(backends={"hf": "5.0.0", "torchscript": "2.13.0"})
    assert [c.package.package_id for c in resolve([hf_package()], ResolutionRequest(), env).candidates] == ["hf"]


@pytest.mark.parametrize(
    ("installed", "has_hf"),
    [({"transformers": "5.0", "torch": "2.13"}, True), ({"transformers": "5.0"}, False), ({"torch": "2.13"}, False)],
)
def test_hf_backend_needs_transformers_and_torch(installed: dict, has_hf: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environment, "_version", lambda names: next((installed[n] for n in names if n in installed), None))
    monkeypatch.setattr(environment, "_nvidia_smi", lambda: ((), None))
    assert ("hf" in environment.probe_environment().backends) is has_hf


def test_core_imports_neither_torch_nor_transformers() -> None:
    code = (
        "import sys, vigil, vigil.engine, vigil.engine.behaviours, vigil.engine._private.hf_runtime, "
        "vigil.engine._private.loader; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("prompts", ["a person", [], ["a car", " "], [3]])
def test_bad_prompts_are_refused_at_load(prompts: object) -> None:
    with pytest.raises(ModelLoadError, match="prompts must be a non-empty list of non-empty strings"):
        AutoModel.from_pretrained("does-not-matter", prompts=prompts)


def test_prompts_become_a_tuple() -> None:
    assert DetectionOptions(prompts=["a person", "a car"]).prompts == ("a person", "a car")  # type: ignore[arg-type]


@pytest.mark.parametrize("prompts", ["a person", [], [""], [None]])
def test_check_prompts_refuses_what_is_not_a_list_of_strings(prompts: object) -> None:
    with pytest.raises(ModelInputError, match="prompts must be"):
        check_prompts(prompts)  # type: ignore[arg-type]
