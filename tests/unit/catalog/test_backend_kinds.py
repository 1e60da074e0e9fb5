"""Model backends in the catalog: the resolver, the environment probe, package.json, the
config's `model.backend` and the loader's table read each backend's declaration, a backend
declared at run time as the built-in ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.model_packages import write_model_json, write_package
from vigil.catalog import CATALOG, BackendKind, Extra, NoSettings
from vigil.config.model import ModelConfig
from vigil.engine import AutoModel, BackendType
from vigil.engine._private import environment
from vigil.engine._private.environment import GpuInfo, RuntimeEnvironment
from vigil.engine._private.loader import implementations
from vigil.engine._private.package_format import PackageMetadata, parse_package
from vigil.engine._private.resolver import ResolutionRequest, default_backend_order, resolve
from vigil.errors import MissingDependencyError, ModelLoadError

SHA = "0" * 64
CPU = RuntimeEnvironment(backends={"onnx": "1.20", "gpu_fake": "1.0"})
GPU = RuntimeEnvironment(backends={"onnx": "1.20", "gpu_fake": "1.0"}, gpus=(GpuInfo("RTX", "8.9"),))


def too_big(package: Any, request: Any, env: Any) -> str | None:
    """A backend's own resolver check: refuses packages whose batch can exceed 4."""
    spec = package.batch.to_spec()
    return None if spec.max is not None and spec.max <= 4 else "the fake GPU runtime takes batches up to 4"


def gpu_backend(**facts: Any) -> BackendKind:
    return BackendKind(
        "gpu_fake",
        NoSettings,
        "tests.integration.engine.test_plugin_backend:load_fake_backend_for_test",
        **{
            "label": "the fake GPU runtime",
            "models": (("yolo", "detect", ""),),
            "extras": (
                Extra("gpu_fake", "vigil_gpu_fake_runtime", "the fake GPU runtime", "pip install vigil-gpu-fake-runtime"),
            ),
            "distributions": ("vigil-gpu-fake-runtime",),
            "devices": ("gpu",),
            "rank": 1,
            "rank_why": "a test's backend",
            "files": (".fake",),
            "checks": (too_big,),
            **facts,
        },
    )


@pytest.fixture
def declare() -> Iterator[Any]:
    def _declare(**facts: Any) -> BackendKind:
        return CATALOG.backends.register(gpu_backend(**facts))

    yield _declare
    CATALOG.backends.unregister("gpu_fake")


def package(package_id: str, backend: str, **meta: Any) -> PackageMetadata:
    body = {
        "package_id": package_id,
        "backend": backend,
        "batch": {"min": 1, "max": 4},
        "files": [{"name": "m.fake", "sha256": SHA}],
    }
    return parse_package(body | meta, f"package '{package_id}'")


def test_the_built_in_backends_are_declared_once_in_rank_order_with_their_facts() -> None:
    assert CATALOG.backends.names() == [b.value for b in BackendType]
    assert default_backend_order() == ("trt", "openvino", "onnx", "torchscript", "hf")
    assert all(kind.rank_why and kind.files and kind.models and kind.distributions for kind in CATALOG.backends)
    assert [kind.name for kind in CATALOG.backends if kind.build_step] == ["trt", "openvino"]
    assert CATALOG.backends.get("hf").requires == ("torchscript",)
    assert ("ppocr", "ocr", "onnx") in implementations() and ("clip", "embed", "hf") in implementations()


def test_a_declared_backend_ranks_by_its_rank_and_runs_its_own_checks(declare: Any) -> None:
    declare()
    assert default_backend_order()[0] == "gpu_fake"
    packages = [package("onnx", "onnx", files=[{"name": "m.onnx", "sha256": SHA}]), package("fake", "gpu_fake")]
    assert [c.package.package_id for c in resolve(packages, ResolutionRequest(), GPU).candidates] == ["fake", "onnx"]
    big = package("fake-big", "gpu_fake", batch={"min": 1, "max": 16})
    assert [str(r) for r in resolve([big], ResolutionRequest(), GPU).refused] == [
        "fake-big: the fake GPU runtime takes batches up to 4"
    ]


def test_a_declared_backend_is_refused_by_its_devices(declare: Any) -> None:
    declare()
    fake = [package("fake", "gpu_fake")]
    on_cpu = resolve(fake, ResolutionRequest(device="cpu"), GPU)
    assert [str(r) for r in on_cpu.refused] == ["fake: the fake GPU runtime runs on a GPU; device 'cpu' was requested"]
    no_gpu = resolve(fake, ResolutionRequest(), CPU)
    assert [str(r) for r in no_gpu.refused] == ["fake: the fake GPU runtime needs an NVIDIA GPU; none found"]
    declare_cpu_only = gpu_backend(devices=("cpu",))
    CATALOG.backends.register(declare_cpu_only, replace=True)
    wants_gpu = resolve(fake, ResolutionRequest(device="gpu"), GPU)
    assert [str(r) for r in wants_gpu.refused] == ["fake: device 'gpu' requested but the fake GPU runtime runs on the CPU"]


def test_missing_it_is_refused_with_its_extras_install_hint(declare: Any) -> None:
    declare()
    env = RuntimeEnvironment(backends={"onnx": "1"}, gpus=GPU.gpus)
    refused = resolve([package("fake", "gpu_fake")], ResolutionRequest(), env).refused
    assert [str(r) for r in refused] == ["fake: backend 'gpu_fake' is not installed (pip install vigil-gpu-fake-runtime)"]


@pytest.mark.parametrize(
    ("installed", "present"),
    [({"vigil-gpu-fake-runtime": "1.0", "torch": "2"}, True), ({"vigil-gpu-fake-runtime": "1.0"}, False), ({}, False)],
)
def test_the_probe_asks_each_declared_backend_for_its_distributions_and_requirements(
    declare: Any, installed: dict, present: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare(requires=("torchscript",))
    monkeypatch.setattr(environment, "_version", lambda names: next((installed[n] for n in names if n in installed), None))
    backends = environment.probe_backends()
    assert ("gpu_fake" in backends) is present
    assert backends.get("gpu_fake") == ("1.0" if present else None)


def test_package_json_and_model_backend_take_the_declared_names_and_list_them_when_wrong(declare: Any) -> None:
    with pytest.raises(
        ModelLoadError, match=r"backend: .*unknown backend kind 'gpu_fake' \(known: trt, openvino, onnx, torchscript, hf\)"
    ):
        package("fake", "gpu_fake")
    with pytest.raises(ValidationError, match=r"Input should be 'trt', 'openvino', 'onnx', 'torchscript' or 'hf'"):
        ModelConfig(path="m", backend="gpu_fake")
    declare()
    assert package("fake", "gpu_fake").backend.value == "gpu_fake"
    assert package("fake", "gpu_fake").main_file().name == "m.fake"  # the backend's declared files
    assert ModelConfig(path="m", backend=["gpu_fake", "onnx"]).backend == ["gpu_fake", "onnx"]
    with pytest.raises(ValidationError, match=r"Input should be 'trt', 'openvino', 'onnx', 'torchscript', 'hf' or 'gpu_fake'"):
        ModelConfig(path="m", backend="coreml")


def test_a_loader_that_cannot_be_imported_names_the_backends_extra(declare: Any, tmp_path: Path) -> None:
    declare()
    CATALOG.backends.register(dataclasses.replace(gpu_backend(), factory="vigil_gpu_fake_runtime.loader:load"), replace=True)
    root = write_model_json(tmp_path / "tiny")
    write_package(root, "fake", {"m.fake": b"weights"}, backend="gpu_fake", batch={"min": 1, "max": 4})
    with pytest.raises(MissingDependencyError) as info:
        AutoModel.from_pretrained(root, environment=GPU)
    assert (
        str(info.value) == "package 'fake': the gpu_fake backend needs the fake GPU runtime: pip install vigil-gpu-fake-runtime"
    )
