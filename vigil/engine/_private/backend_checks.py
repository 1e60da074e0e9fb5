"""The resolver's filters that only packages of one backend go through, declared by that backend
in the catalog (`BackendKind.checks`): each `check(package, request, env) -> reason | None`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.engine._private.environment import RuntimeEnvironment
    from vigil.engine._private.package_format import PackageMetadata
    from vigil.engine._private.resolver import ResolutionRequest

__all__ = ["GPU_PROVIDERS", "onnx_gpu", "onnx_opset", "onnx_providers", "torch_gpu", "trt_hardware", "trt_version"]

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def onnx_gpu(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    if r.device == "gpu" and not set(GPU_PROVIDERS) & set(env.ort_providers):
        return "device 'gpu' requested but onnxruntime has no CUDA or TensorRT execution provider"
    return None


def onnx_opset(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    opset = p.onnx.opset if p.onnx else None
    if opset and env.ort_max_opset and opset > env.ort_max_opset:
        installed = env.backends.get("onnx", "?")
        return (
            f"ONNX opset {opset} is newer than onnxruntime {installed} implements (up to {env.ort_max_opset}); "
            "upgrade onnxruntime or use a package exported with an older opset"
        )
    return None


def onnx_providers(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    if not p.onnx or not p.onnx.incompatible_providers:
        return None
    usable = [x for x in r.providers if x in env.ort_providers] if r.providers else list(env.ort_providers)
    if not [x for x in usable if x not in p.onnx.incompatible_providers]:
        return f"incompatible with every usable execution provider ({', '.join(usable) or 'none'})"
    return None


def torch_gpu(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    if r.device != "gpu":
        return None
    if "cuda" not in (p.torch.devices if p.torch else ("cpu",)):
        return "device 'gpu' requested but the package runs on the CPU only (torch.devices)"
    if "+cpu" in env.backends.get("torchscript", "") or not env.has_gpu:
        return "device 'gpu' requested but torch is a CPU build or there is no NVIDIA GPU"
    return None


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def trt_version(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    if p.trt is None or env.trt_version is None:
        return None
    built, here = _version_tuple(p.trt.version), _version_tuple(env.trt_version)
    if p.trt.forward_compatible:
        if here[:2] < built[:2]:
            return f"engine built with TensorRT {p.trt.version} needs TensorRT >= {p.trt.version}; installed {env.trt_version}"
        return None
    if here[:3] != built[:3]:
        return f"engine built with TensorRT {p.trt.version}, installed {env.trt_version}; rebuild it here (vigil models build-engine)"
    return None


def trt_hardware(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    trt = p.trt
    if trt is None or not env.gpus:
        return None
    reasons = []
    if trt.l4t_version and (
        env.l4t_version is None or _version_tuple(env.l4t_version)[:2] != _version_tuple(trt.l4t_version)[:2]
    ):
        here = f"L4T {env.l4t_version}" if env.l4t_version else "not a Jetson"
        reasons.append(f"engine built on Jetson L4T {trt.l4t_version}, this machine is {here}")
    if trt.gpu_name or trt.compute_capability:
        same_gpu = any(g.name == trt.gpu_name for g in env.gpus) if trt.gpu_name else False
        same_cc = any(g.compute_capability == trt.compute_capability for g in env.gpus)
        if not same_gpu and not (trt.same_cc_compatible and same_cc):
            here = ", ".join(f"{g.name} (cc {g.compute_capability})" for g in env.gpus)
            built = f"{trt.gpu_name or '?'} (cc {trt.compute_capability or '?'})"
            rule = "same GPU or compute capability" if trt.same_cc_compatible else "the same GPU model"
            reasons.append(f"engine built for {built}, needs {rule}; this machine has {here}")
    return "; ".join(reasons) or None
