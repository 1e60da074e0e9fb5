"""The resolver and `openvino` packages: the order measured here (OpenVINO first), `backend:`
overriding it, refusals with reasons (not installed, a device OpenVINO does not see, a device
that disagrees with `model.device`), and int8 packages held to the recorded agreement."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import ValidationError

from vigil.catalog import CATALOG
from vigil.config.model import ModelConfig
from vigil.engine.developer_tools import PackageMetadata, ResolutionRequest, RuntimeEnvironment, resolve

HASH = "0" * 64
ENV = RuntimeEnvironment(
    backends={"onnx": "1.32.0", "openvino": "2026.4.1"},
    ort_providers=("CPUExecutionProvider",),
    ort_max_opset=28,
    machine="x86_64",
    cpu_vnni=True,
)


def pkg(package_id: str, backend: str, quantization: str = "fp32", agreement: float | None = None) -> PackageMetadata:
    body: dict = {
        "package_id": package_id,
        "backend": backend,
        "quantization": quantization,
        "batch": {"min": 1},
        "files": [{"name": "model.xml" if backend == "openvino" else "model.onnx", "sha256": HASH}],
    }
    if backend == "openvino":
        body["openvino"] = {"version": "2026.4.1", "source": "onnx", "source_sha256": HASH}
    if agreement is not None:
        body["int8"] = {
            "agreement": agreement,
            "speedup": 1.5,
            "reference": "onnx",
            "calibration_images": 6,
            "evaluation_images": 2,
        }
    return PackageMetadata.model_validate(body)


PACKAGES = [pkg("openvino-fp32", "openvino"), pkg("onnx", "onnx")]


def ids(request: ResolutionRequest, packages: list[PackageMetadata] = PACKAGES, env: RuntimeEnvironment = ENV) -> list[str]:
    return [c.package.package_id for c in resolve(packages, request, env).candidates]


def reasons(request: ResolutionRequest, package_id: str, env: RuntimeEnvironment = ENV) -> str:
    refused = {r.package_id: "; ".join(r.reasons) for r in resolve(PACKAGES, request, env).refused}
    return refused[package_id]


def test_openvino_ranks_before_onnx_runtime_as_measured_here() -> None:
    kind = CATALOG.backends.get("openvino")
    assert CATALOG.backends.get("trt").rank < kind.rank < CATALOG.backends.get("onnx").rank
    assert "measured" in kind.rank_why
    assert ids(ResolutionRequest()) == ["openvino-fp32", "onnx"]


def test_backend_overrides_the_order() -> None:
    assert ids(ResolutionRequest(backends=("onnx", "openvino"))) == ["onnx", "openvino-fp32"]
    assert ids(ResolutionRequest(backends=("onnx",))) == ["onnx"]


def test_not_installed_is_refused_with_the_install_hint() -> None:
    env = replace(ENV, backends={"onnx": "1.32.0"})
    text = reasons(ResolutionRequest(), "openvino-fp32", env)
    assert "backend 'openvino' is not installed" in text and "vigil-analytics[openvino]" in text


def test_a_device_openvino_does_not_see_is_refused_naming_the_ones_it_sees() -> None:
    text = reasons(ResolutionRequest(openvino_device="NPU"), "openvino-fp32")
    assert "OpenVINO device 'NPU' is not on this machine" in text
    assert "OpenVINO sees: CPU" in text  # this machine: `ov.Core().available_devices` is ['CPU']
    assert ids(ResolutionRequest(openvino_device="AUTO")) == ["openvino-fp32", "onnx"]


def test_model_device_and_openvino_device_must_agree() -> None:
    assert "device 'cpu' requested but model.openvino.device is GPU" in reasons(
        ResolutionRequest(device="cpu", openvino_device="GPU"), "openvino-fp32"
    )
    assert "device 'gpu' requested but model.openvino.device is CPU" in reasons(
        ResolutionRequest(device="gpu", openvino_device="CPU"), "openvino-fp32"
    )


@pytest.mark.parametrize(("agreement", "first"), [(0.99, "openvino-int8"), (0.80, "openvino-fp32")])
def test_int8_openvino_is_held_to_the_recorded_agreement(agreement: float, first: str) -> None:
    packages = [pkg("openvino-fp32", "openvino"), pkg("openvino-int8", "openvino", "int8", agreement)]
    candidates = resolve(packages, ResolutionRequest(backends=("openvino",)), ENV).candidates
    assert candidates[0].package.package_id == first
    note = next(c.note for c in candidates if c.package.package_id == "openvino-int8")
    assert note is not None and f"{agreement:.3f}" in note


def test_the_openvino_section_of_the_config() -> None:
    config = ModelConfig.model_validate(
        {"path": "m", "backend": ["openvino", "onnx"], "openvino": {"device": "GPU", "convert": "auto"}}
    )
    assert config.openvino.device == "GPU" and config.openvino.convert == "auto"
    assert config.backend == ["openvino", "onnx"]
    default = ModelConfig.model_validate({"path": "m"})
    assert default.openvino.device == "CPU" and default.openvino.convert == "never"
    with pytest.raises(ValidationError, match="NPU"):
        ModelConfig.model_validate({"path": "m", "openvino": {"device": "TPU"}})
