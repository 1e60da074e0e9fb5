"""What this machine can run: installed backends, ORT execution providers, GPUs, TensorRT, Jetson.

Nothing is probed at import. `current_environment()` probes once, on first use, and caches the
answer; tests and tools build a `RuntimeEnvironment` by hand to simulate other machines.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import platform
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vigil.catalog import CATALOG

__all__ = ["GpuInfo", "RuntimeEnvironment", "current_environment"]

# Jetson modules by device-tree model name -> CUDA compute capability.
_JETSON_CC = {"orin": "8.7", "xavier": "7.2", "nano": "5.3", "tx2": "6.2", "tx1": "5.3", "thor": "11.0"}


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str | None = None
    driver: str | None = None


@dataclass(frozen=True)
class RuntimeEnvironment:
    """A snapshot of the machine, as the resolver sees it.

    `backends` maps a backend name (one the catalog declares: `onnx`, `trt`, `torchscript`,
    `hf`, a plugin's) to the installed version. `ort_providers` lists onnxruntime's available execution providers.
    """

    backends: dict[str, str] = field(default_factory=dict)
    ort_providers: tuple[str, ...] = ()
    ort_max_opset: int | None = None
    gpus: tuple[GpuInfo, ...] = ()
    cuda_version: str | None = None
    trt_version: str | None = None
    l4t_version: str | None = None
    machine: str = ""
    cpu_vnni: bool = False  # int8 dot products (avx512_vnni / avx_vnni): int8 packages run faster than fp32

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    @property
    def is_jetson(self) -> bool:
        return self.l4t_version is not None

    def fingerprint(self) -> str:
        """Stable hash of everything that can change a resolution decision."""
        blob = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _version(distributions: tuple[str, ...]) -> str | None:
    for name in distributions:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _ort_capabilities() -> tuple[tuple[str, ...], int | None]:
    """Available execution providers and the highest ONNX opset onnxruntime has kernels for."""
    try:
        import onnxruntime
    except ImportError:
        return (), None
    providers = tuple(onnxruntime.get_available_providers())
    try:  # not public API, but stable for years; without it the opset check is skipped
        from onnxruntime.capi import _pybind_state

        kernels = _pybind_state.get_all_opkernel_def()
        max_opset = max(k.version_range[0] for k in kernels if k.domain in ("", "ai.onnx"))
    except Exception:  # noqa: BLE001 - an older onnxruntime without the kernel registry: unknown
        max_opset = None
    return providers, max_opset


def _nvidia_smi() -> tuple[tuple[GpuInfo, ...], str | None]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return (), None
    try:
        query = subprocess.run(
            [exe, "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        header = subprocess.run([exe], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return (), None
    return parse_nvidia_smi(query, header)


def parse_nvidia_smi(query: str, header: str) -> tuple[tuple[GpuInfo, ...], str | None]:
    """GPUs from `--query-gpu=name,compute_cap,driver_version --format=csv,noheader`, and the
    CUDA version from the plain `nvidia-smi` banner."""
    gpus = []
    for line in query.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            gpus.append(GpuInfo(parts[0], parts[1] or None, parts[2] or None))
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", header)
    return tuple(gpus), cuda.group(1) if cuda else None


def parse_jetson(release: str, model: str) -> tuple[str | None, GpuInfo | None]:
    """L4T release from /etc/nv_tegra_release ('# R36 (release), REVISION: 3.0, ...' -> '36.3.0')
    and the module from /proc/device-tree/model."""
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", release)
    if not match:
        return None, None
    name = model.strip("\x00\n ") or "NVIDIA Jetson"
    cc = next((v for k, v in _JETSON_CC.items() if k in name.lower()), None)
    return f"{match.group(1)}.{match.group(2)}", GpuInfo(name, cc)


_VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})


def parse_cpu_vnni(cpuinfo: str) -> bool:
    """Whether the `flags` lines of /proc/cpuinfo list a VNNI extension (avx512_vnni or avx_vnni)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and _VNNI_FLAGS & set(value.split()):
            return True
    return False


def _cpu_vnni() -> bool:
    try:
        return parse_cpu_vnni(Path("/proc/cpuinfo").read_text())
    except OSError:  # not Linux: int8 keeps its place below fp32
        return False


def _jetson() -> tuple[str | None, GpuInfo | None]:
    try:
        release = Path("/etc/nv_tegra_release").read_text()
    except OSError:
        return None, None
    try:
        model = Path("/proc/device-tree/model").read_text()
    except OSError:
        model = ""
    return parse_jetson(release, model)


def probe_backends() -> dict[str, str]:
    """Each backend the catalog declares that is installed, with its version: one of its
    `distributions` is installed (read from their metadata, nothing imported) and so is every
    backend it `requires` (hf: torch)."""
    kinds = CATALOG.backends.declared()
    found = {kind.name: v for kind in kinds if (v := _version(kind.distributions)) is not None}
    for _ in kinds:  # a backend requiring one that is missing goes; bounded by the count of backends
        missing = [name for name in found if any(r not in found for r in CATALOG.backends.get(name).requires)]
        if not missing:
            break
        for name in missing:
            del found[name]
    return found


def probe_environment() -> RuntimeEnvironment:
    backends = probe_backends()
    gpus, cuda = _nvidia_smi()
    l4t, jetson_gpu = _jetson()
    providers, max_opset = _ort_capabilities() if "onnx" in backends else ((), None)
    if jetson_gpu is not None and not gpus:
        gpus = (jetson_gpu,)
    return RuntimeEnvironment(
        backends=backends,
        ort_providers=providers,
        ort_max_opset=max_opset,
        gpus=gpus,
        cuda_version=cuda,
        trt_version=backends.get("trt"),
        l4t_version=l4t,
        machine=platform.machine(),
        cpu_vnni=_cpu_vnni(),
    )


@functools.cache
def current_environment() -> RuntimeEnvironment:
    """This machine, probed once on first call."""
    return probe_environment()
