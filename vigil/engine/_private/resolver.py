"""Pick the best package of a model for this machine, and say why every other one was refused.

Every package goes through every filter (a fixed list, in a fixed order), so a refused package
carries all its reasons, not just the first. The packages no filter refused are ranked. What a
filter or the ranking knows about a backend (its install hint, devices, rank, own checks) is its
declaration in the catalog (`vigil.catalog.BackendKind`), not a list here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from vigil.catalog import CATALOG, BackendKind
from vigil.engine._private.backend_checks import GPU_PROVIDERS
from vigil.engine._private.environment import RuntimeEnvironment
from vigil.engine._private.package_format import PackageMetadata
from vigil.engine.enums import Quantization
from vigil.errors import ModelResolutionError

__all__ = ["Candidate", "Refused", "Resolution", "ResolutionRequest", "resolve"]

_QUANT_ORDER_GPU = (Quantization.FP16, Quantization.FP32, Quantization.BF16, Quantization.INT8)
_QUANT_ORDER_CPU = (Quantization.FP32, Quantization.INT8, Quantization.BF16, Quantization.FP16)
DEFAULT_MIN_INT8_AGREEMENT = 0.95


@dataclass(frozen=True)
class ResolutionRequest:
    """What the caller wants. Every field is optional; None means "no preference".

    `backends` both restricts and orders the backends. `batch_size` is the batch the pipeline
    would like to run (a preference: it ranks packages); `batch_range` (min, max) the sizes it
    can work with (a limit: it refuses packages). `device` is `auto`, `cpu` or `gpu`.
    `min_int8_agreement` is the agreement with fp32 (F1, recorded by `vigil models quantize`)
    an int8 package needs to rank above fp32 on a CPU with VNNI.
    """

    backends: tuple[str, ...] | None = None
    batch_size: int | None = None
    batch_range: tuple[int, int] | None = None
    quantizations: tuple[Quantization, ...] | None = None
    device: str = "auto"
    providers: tuple[str, ...] | None = None
    package_id: str | None = None
    allow_untrusted: bool = False
    min_int8_agreement: float = DEFAULT_MIN_INT8_AGREEMENT
    openvino_device: str | None = None  # an `openvino` package's device (AUTO, CPU, GPU, NPU); None: CPU

    def __post_init__(self) -> None:
        if self.backends is not None:  # names, whether given as strings or as `BackendType` members
            names = tuple(b.value if isinstance(b, Enum) else str(b) for b in self.backends)
            object.__setattr__(self, "backends", names)

    def key(self) -> str:
        return repr(self)


@dataclass(frozen=True)
class Refused:
    package_id: str
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.package_id}: " + "; ".join(self.reasons)


@dataclass(frozen=True)
class Candidate:
    package: PackageMetadata
    rank: int
    note: str | None = None  # why it ranks where it does, when that is not obvious (int8 on a CPU)


@dataclass(frozen=True)
class Resolution:
    candidates: tuple[Candidate, ...]
    refused: tuple[Refused, ...] = field(default_factory=tuple)

    def require(self, model_id: str) -> tuple[Candidate, ...]:
        if not self.candidates:
            lines = "\n  ".join(str(r) for r in self.refused)
            raise ModelResolutionError(f"model '{model_id}': no package can run here; refused:\n  {lines}")
        return self.candidates


Filter = Callable[[PackageMetadata, ResolutionRequest, RuntimeEnvironment], "str | None"]


def backend_kind(name: str) -> BackendKind:
    """The catalog's declaration of backend `name` (a `ConfigError` listing the known ones)."""
    return CATALOG.backends.get(name)


def default_backend_order() -> tuple[str, ...]:
    """Every declared backend, by its declared `rank` (declaration order among equals)."""
    return tuple(kind.name for kind in sorted(CATALOG.backends.declared(), key=lambda kind: kind.rank))


def _requested_package(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    if r.package_id is not None and p.package_id != r.package_id:
        return f"not the requested package '{r.package_id}'"
    return None


def _backend_wanted(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    if r.backends is not None and p.backend not in r.backends:
        return f"backend '{p.backend}' not among the requested {list(r.backends)}"
    return None


def _trusted(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    if p.carries_code and not r.allow_untrusted:
        return "carries executable code (custom Python, TensorRT plugins or host code); allow untrusted code to load it"
    return None


def _backend_installed(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    if p.backend not in env.backends:
        return f"backend '{p.backend}' is not installed ({backend_kind(p.backend).install_hint()})"
    return None


def _device(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    """The devices the backend declares against the requested one and the machine's GPUs."""
    kind = backend_kind(p.backend)
    if r.device == "cpu" and "cpu" not in kind.devices:
        return f"{kind.title} runs on {kind.devices_in_words()}; device 'cpu' was requested"
    if kind.devices == ("gpu",) and not env.has_gpu:
        return f"{kind.title} needs an NVIDIA GPU; none found"
    if r.device == "gpu" and "gpu" not in kind.devices:
        return f"device 'gpu' requested but {kind.title} runs on {kind.devices_in_words()}"
    return None


def _backend_checks(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    """The filters the package's backend declares (`BackendKind.checks`), their reasons joined."""
    reasons = [reason for check in backend_kind(p.backend).load_checks() if (reason := check(p, r, env)) is not None]
    return "; ".join(reasons) or None


def _batch(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    # Only a range is a hard limit; `batch_size` is a preference that ranks packages.
    if r.batch_range is None:
        return None
    spec, (lo, hi) = p.batch.to_spec(), r.batch_range
    if spec.static and not lo <= (spec.max or 0) <= hi:
        return f"static batch {spec.max} outside the requested range {lo}..{hi}"
    if not spec.static and (spec.min > hi or (spec.max is not None and spec.max < lo)):
        return f"batch {p.batch.describe()} does not overlap the requested range {lo}..{hi}"
    return None


def _quantization(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> str | None:
    if r.quantizations is not None and p.quantization not in r.quantizations:
        return f"quantization '{p.quantization.value}' not among the requested {[q.value for q in r.quantizations]}"
    return None


FILTERS: tuple[Filter, ...] = (
    _requested_package,
    _backend_wanted,
    _trusted,
    _backend_installed,
    _device,
    _backend_checks,
    _batch,
    _quantization,
)


def _on_gpu(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> bool:
    gpu_only = "cpu" not in backend_kind(p.backend).devices
    return r.device != "cpu" and env.has_gpu and (gpu_only or bool(set(GPU_PROVIDERS) & set(env.ort_providers)))


def int8_on_cpu(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> tuple[bool, str | None]:
    """Whether an int8 ONNX package run on the CPU ranks above fp32, and why not when it does not.

    It does on a CPU with VNNI when the agreement with fp32 recorded by `vigil models quantize`
    reaches `min_int8_agreement`. Requested quantizations (the user forcing one) skip the rule.
    """
    if p.quantization is not Quantization.INT8 or r.quantizations is not None or _on_gpu(p, r, env):
        return False, None
    if not env.cpu_vnni:
        return False, "int8 ranks below fp32: this CPU has no VNNI (avx512_vnni or avx_vnni), so int8 is not faster here"
    measured = p.int8
    if measured is None:
        return False, (
            "int8 ranks below fp32: its agreement with fp32 is unknown (make int8 packages with "
            "`vigil models quantize`, which measures it; or force it with quantization: int8)"
        )
    if measured.agreement < r.min_int8_agreement:
        return False, (
            f"int8 ranks below fp32: its agreement with '{measured.reference}' is {measured.agreement:.3f}, "
            f"below model.min_int8_agreement {r.min_int8_agreement:g} (force it with quantization: int8)"
        )
    return True, (
        f"int8 ranks above fp32: VNNI CPU, agreement {measured.agreement:.3f} >= {r.min_int8_agreement:g}, "
        f"measured {measured.speedup:.2f}x faster"
    )


def _rank_key(p: PackageMetadata, r: ResolutionRequest, env: RuntimeEnvironment) -> tuple:
    order = r.backends or default_backend_order()
    spec = p.batch.to_spec()
    wanted = r.batch_size or (r.batch_range[1] if r.batch_range else 1)
    if spec.static:
        fit = abs((spec.max or 0) - wanted)
    else:
        fit = 0 if spec.accepts(wanted) else (spec.min - wanted if wanted < spec.min else wanted - (spec.max or wanted))
    quant_order = r.quantizations or (_QUANT_ORDER_GPU if _on_gpu(p, r, env) else _QUANT_ORDER_CPU)
    quant = quant_order.index(p.quantization) if p.quantization in quant_order else len(quant_order)
    if int8_on_cpu(p, r, env)[0]:
        quant = -1
    return (order.index(p.backend), int(spec.static), fit, quant, p.package_id)


def resolve(packages: Sequence[PackageMetadata], request: ResolutionRequest, env: RuntimeEnvironment) -> Resolution:
    accepted, refused = [], []
    for package in packages:
        reasons = tuple(reason for check in FILTERS if (reason := check(package, request, env)) is not None)
        if reasons:
            refused.append(Refused(package.package_id, reasons))
        else:
            accepted.append(package)
    accepted.sort(key=lambda p: _rank_key(p, request, env))
    ranked = (Candidate(p, i + 1, int8_on_cpu(p, request, env)[1]) for i, p in enumerate(accepted))
    return Resolution(tuple(ranked), tuple(refused))
