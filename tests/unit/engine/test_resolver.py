"""The resolver over simulated machines (what cannot exist here: GPUs, TensorRT, Jetson)."""

from __future__ import annotations

import pytest

from vigil.engine import BackendType, Quantization
from vigil.engine.developer_tools import GpuInfo, PackageMetadata, ResolutionRequest, RuntimeEnvironment, resolve

HASH = "0" * 64


def pkg(package_id: str, backend: str = "onnx", batch: dict | None = None, **extra: object) -> PackageMetadata:
    ext = {"onnx": "onnx", "trt": "engine", "torchscript": "pt", "hf": "safetensors"}[backend]
    return PackageMetadata.model_validate(
        {
            "package_id": package_id,
            "backend": backend,
            "batch": batch or {"min": 1, "max": None},
            "files": [{"name": f"model.{ext}", "sha256": HASH}],
            **extra,
        }
    )


CPU_ONLY = RuntimeEnvironment(
    backends={"onnx": "1.32.0"}, ort_providers=("CPUExecutionProvider",), ort_max_opset=28, machine="x86_64"
)
RTX_TRT10 = RuntimeEnvironment(
    backends={"onnx": "1.32.0", "trt": "10.3.0"},
    ort_providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
    ort_max_opset=28,
    gpus=(GpuInfo("NVIDIA GeForce RTX 4090", "8.9", "560.35"),),
    cuda_version="12.6",
    trt_version="10.3.0",
    machine="x86_64",
)
RTX_WRONG_TRT = RuntimeEnvironment(
    backends={"onnx": "1.32.0", "trt": "10.7.0"},
    ort_providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
    gpus=(GpuInfo("NVIDIA GeForce RTX 4090", "8.9"),),
    trt_version="10.7.0",
    machine="x86_64",
)
JETSON_ORIN = RuntimeEnvironment(
    backends={"onnx": "1.20.0", "trt": "10.3.0"},
    ort_providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
    ort_max_opset=21,
    gpus=(GpuInfo("NVIDIA Jetson AGX Orin", "8.7"),),
    trt_version="10.3.0",
    l4t_version="36.3.0",
    machine="aarch64",
)

PACKAGES = [
    pkg("onnx-fp32", batch={"min": 1, "opt": 4, "max": 16}, onnx={"opset": 17}),
    pkg("onnx-fp16", quantization="fp16", batch={"min": 1, "max": 16}, onnx={"opset": 17}),
    pkg("onnx-b8", batch={"static": 8}, onnx={"opset": 17}),
    pkg("onnx-opset23", onnx={"opset": 23}),
    pkg(
        "trt-rtx4090",
        "trt",
        quantization="fp16",
        trt={"version": "10.3.0", "gpu_name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"},
    ),
    pkg(
        "trt-cc89",
        "trt",
        trt={"version": "10.3.0", "gpu_name": "NVIDIA L4", "compute_capability": "8.9", "same_cc_compatible": True},
    ),
    pkg(
        "trt-orin",
        "trt",
        quantization="fp16",
        trt={"version": "10.3.0", "gpu_name": "NVIDIA Jetson AGX Orin", "compute_capability": "8.7", "l4t_version": "36.3"},
    ),
    pkg(
        "trt-fwd",
        "trt",
        trt={"version": "10.0.1", "forward_compatible": True, "gpu_name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"},
    ),
]


def refusals(resolution) -> dict[str, str]:
    return {r.package_id: " | ".join(r.reasons) for r in resolution.refused}


@pytest.mark.parametrize(
    "env, request_, first, refused_with",
    [
        (
            CPU_ONLY,
            ResolutionRequest(),
            "onnx-fp32",
            {"trt-rtx4090": "backend 'trt' is not installed", "trt-orin": "TensorRT needs an NVIDIA GPU"},
        ),
        (
            RTX_TRT10,
            ResolutionRequest(),
            "trt-rtx4090",
            {"trt-orin": "engine built on Jetson L4T 36.3, this machine is not a Jetson"},
        ),
        (
            RTX_TRT10,
            ResolutionRequest(backends=(BackendType.ONNX,)),
            "onnx-fp16",
            {"trt-rtx4090": "not among the requested ['onnx']"},
        ),
        (
            RTX_WRONG_TRT,
            ResolutionRequest(),
            "trt-fwd",
            {"trt-rtx4090": "engine built with TensorRT 10.3.0, installed 10.7.0", "trt-cc89": "installed 10.7.0"},
        ),
        (
            JETSON_ORIN,
            ResolutionRequest(),
            "trt-orin",
            {
                "onnx-opset23": "ONNX opset 23 is newer than onnxruntime 1.20.0 implements (up to 21)",
                "trt-rtx4090": "engine built for NVIDIA GeForce RTX 4090 (cc 8.9), needs the same GPU model",
            },
        ),
        (
            CPU_ONLY,
            ResolutionRequest(batch_range=(1, 4)),
            "onnx-fp32",
            {"onnx-b8": "static batch 8 outside the requested range 1..4"},
        ),
        (
            CPU_ONLY,
            ResolutionRequest(quantizations=(Quantization.FP16,)),
            "onnx-fp16",
            {"onnx-fp32": "quantization 'fp32' not among the requested ['fp16']"},
        ),
        (CPU_ONLY, ResolutionRequest(package_id="onnx-b8"), "onnx-b8", {"onnx-fp32": "not the requested package 'onnx-b8'"}),
        (
            RTX_TRT10,
            ResolutionRequest(device="cpu"),
            "onnx-fp32",
            {"trt-rtx4090": "TensorRT runs on a GPU; device 'cpu' was requested"},
        ),
    ],
    ids=[
        "cpu-only",
        "rtx-trt10",
        "rtx-onnx-only",
        "wrong-trt-version",
        "jetson-orin",
        "batch-range",
        "quantization",
        "explicit-package",
        "device-cpu",
    ],
)
def test_resolver_picks_and_explains(env, request_, first, refused_with):
    resolution = resolve(PACKAGES, request_, env)
    assert resolution.candidates[0].package.package_id == first
    reasons = refusals(resolution)
    for package_id, text in refused_with.items():
        assert text in reasons.get(package_id, ""), f"{package_id}: {reasons.get(package_id)}"
    # every package is either a candidate or refused, never lost
    ids = {c.package.package_id for c in resolution.candidates} | set(reasons)
    assert ids == {p.package_id for p in PACKAGES}


def test_resolve_refuses_static_batch_8_when_max_is_4():
    resolution = resolve([pkg("b8", batch={"static": 8})], ResolutionRequest(batch_range=(1, 4)), CPU_ONLY)
    assert resolution.candidates == ()
    assert refusals(resolution) == {"b8": "static batch 8 outside the requested range 1..4"}


def test_refused_package_lists_every_reason_not_just_the_first():
    resolution = resolve(PACKAGES, ResolutionRequest(backends=(BackendType.ONNX,)), CPU_ONLY)
    reasons = refusals(resolution)["trt-orin"]
    assert "not among the requested" in reasons and "not installed" in reasons and "needs an NVIDIA GPU" in reasons


def test_same_compute_capability_engine_accepted_only_when_marked_compatible():
    resolution = resolve(PACKAGES, ResolutionRequest(backends=(BackendType.TRT,)), RTX_TRT10)
    ranked = [c.package.package_id for c in resolution.candidates]
    assert "trt-cc89" in ranked and "trt-orin" not in ranked


def test_ranking_prefers_dynamic_batch_then_quantization_for_the_device():
    cpu = [c.package.package_id for c in resolve(PACKAGES, ResolutionRequest(backends=(BackendType.ONNX,)), CPU_ONLY).candidates]
    assert cpu == ["onnx-fp32", "onnx-opset23", "onnx-fp16", "onnx-b8"]  # fp32 first on a CPU, static last
    gpu = [c.package.package_id for c in resolve(PACKAGES, ResolutionRequest(backends=(BackendType.ONNX,)), RTX_TRT10).candidates]
    assert gpu[:2] == ["onnx-fp16", "onnx-fp32"]


def test_untrusted_code_needs_explicit_permission():
    custom = pkg("custom", files=[{"name": "model.onnx", "sha256": HASH}, {"name": "model.py", "sha256": HASH}])
    assert refusals(resolve([custom], ResolutionRequest(), CPU_ONLY))["custom"].startswith("carries executable code")
    assert resolve([custom], ResolutionRequest(allow_untrusted=True), CPU_ONLY).candidates


def test_incompatible_execution_providers():
    p = pkg("no-cpu", onnx={"incompatible_providers": ["CPUExecutionProvider"]})
    assert "incompatible with every usable execution provider" in refusals(resolve([p], ResolutionRequest(), CPU_ONLY))["no-cpu"]
    assert resolve([p], ResolutionRequest(), RTX_TRT10).candidates  # CUDA is still usable


def test_environment_fingerprint_changes_with_the_machine():
    assert CPU_ONLY.fingerprint() != RTX_TRT10.fingerprint()
    assert CPU_ONLY.fingerprint() == RuntimeEnvironment(**CPU_ONLY.__dict__).fingerprint()
