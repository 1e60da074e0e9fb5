"""Build a TensorRT engine on this machine from a model's ONNX package, and store it as a new
package (`vigil models build-engine`). Imports tensorrt only when called.

The engine is tied to the GPU, the TensorRT version and (on a Jetson) the L4T release it was
built on; package.json records them so the resolver picks the package here and refuses it
anywhere else. A persistent timing cache in VIGIL_HOME/trt makes rebuilds much faster. Progress
reporting is in `trt_build_progress`, reduced precision and calibration in `trt_build_precision`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.engine._private.download import vigil_home
from vigil.engine._private.environment import RuntimeEnvironment
from vigil.engine._private.package_format import PACKAGE_FILE, ModelMetadata, PackageMetadata
from vigil.engine._private.trt_build_precision import (
    calibration_batches,
    make_calibrator,
    reduced_precision_graph,
    strongly_typed,
)
from vigil.engine._private.trt_build_progress import Progress, log_progress, phase, progress_monitor
from vigil.engine._private.trt_runtime import METADATA_FILE, load_tensorrt
from vigil.engine.enums import BackendType, Quantization
from vigil.errors import ConfigError, ModelLoadError

__all__ = [
    "BuildRequest",
    "BuiltPackage",
    "Progress",
    "build_engine_package",
    "calibration_batches",
    "choose_onnx_package",
    "parse_batch",
    "timing_cache_path",
]


@dataclass(frozen=True)
class BuildRequest:
    batch: tuple[int, int, int] = (1, 4, 8)
    fp16: bool = False
    int8: bool = False
    calibration_dir: Path | None = None
    workspace_mb: int | None = None
    calibration_batches: int = 32


@dataclass(frozen=True)
class BuiltPackage:
    folder: Path
    package: PackageMetadata
    seconds: float


def parse_batch(text: str) -> tuple[int, int, int]:
    """`N`, `MIN,MAX` or `MIN,OPT,MAX`."""
    try:
        parts = [int(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"--batch {text!r}: expected N, MIN,MAX or MIN,OPT,MAX") from None
    if len(parts) == 1:
        parts = parts * 3
    elif len(parts) == 2:
        parts = [parts[0], parts[1], parts[1]]
    if len(parts) != 3 or not 1 <= parts[0] <= parts[1] <= parts[2]:
        raise ConfigError(f"--batch {text!r}: expected MIN <= OPT <= MAX, all >= 1")
    return parts[0], parts[1], parts[2]


def choose_onnx_package(packages: list[PackageMetadata], batch: tuple[int, int, int]) -> PackageMetadata:
    """The ONNX package whose graph accepts the whole batch range (fp32 preferred)."""
    lo, _, hi = batch
    fitting = []
    for p in packages:
        if p.backend != BackendType.ONNX or p.carries_code:
            continue
        spec = p.batch.to_spec()
        if spec.static and not lo == hi == spec.max:
            continue
        if not spec.static and (lo < spec.min or (spec.max is not None and hi > spec.max)):
            continue
        fitting.append(p)
    if not fitting:
        described = ", ".join(f"{p.package_id} (batch {p.batch.describe()})" for p in packages if p.backend == BackendType.ONNX)
        raise ConfigError(
            f"no ONNX package accepts batch {lo}..{hi}: {described or 'the model has no ONNX package'}; "
            "choose --batch within one of them"
        )
    order = (Quantization.FP32, Quantization.FP16, Quantization.BF16, Quantization.INT8)
    fitting.sort(
        key=lambda p: (
            order.index(p.quantization) if p.quantization in order else 9,
            int(p.batch.static is not None),
            p.package_id,
        )
    )
    return fitting[0]


def timing_cache_path(trt_version: str, gpu: str) -> Path:
    return vigil_home() / "trt" / f"timing-{_slug(gpu)}-trt{trt_version}.cache"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


def package_id_for(env: RuntimeEnvironment, quantization: Quantization, batch: tuple[int, int, int]) -> str:
    gpu = env.gpus[0].name if env.gpus else "gpu"
    gpu = re.sub(r"^nvidia-", "", _slug(gpu))
    lo, _, hi = batch
    return f"trt-{gpu}-{quantization.value}-b{lo}-{hi}"[:128]


@dataclass(frozen=True)
class _Build:
    """One build in progress: what each of its steps needs."""

    trt: Any
    model: ModelMetadata
    request: BuildRequest
    onnx_path: Path
    progress: Progress
    started: float  # time.monotonic()
    typed: bool  # strongly typed (TensorRT 11): the precision comes from the graph


def build_engine_package(
    model: ModelMetadata,
    onnx_package: PackageMetadata,
    onnx_folder: Path,
    out_root: Path,
    request: BuildRequest,
    env: RuntimeEnvironment,
    *,
    progress: Progress = log_progress,
    trt: Any = None,
) -> BuiltPackage:
    """Build the engine and write `out_root/<package_id>/{model.engine, metadata.json, package.json}`."""
    trt = trt if trt is not None else load_tensorrt()
    if not env.gpus:
        raise ModelLoadError("building a TensorRT engine needs an NVIDIA GPU; none found (nvidia-smi, /etc/nv_tegra_release)")
    if request.int8 and request.calibration_dir is None:
        raise ConfigError("--int8 needs --calibration DIR (a folder of representative images)")
    onnx_path = onnx_folder / onnx_package.main_file((".onnx",)).name
    build = _Build(trt, model, request, onnx_path, progress, time.monotonic(), strongly_typed(trt))
    trt_version = str(getattr(trt, "__version__", env.trt_version or "0"))
    gpu = env.gpus[0].name
    engine, quantization = _build_engine(build, gpu, timing_cache_path(trt_version, gpu))
    metadata = _onnx_metadata(onnx_path)
    package_id = package_id_for(env, quantization, request.batch)
    folder = out_root / package_id
    with phase(progress, build.started, f"writing package {package_id}"):
        package = write_engine_package(folder, package_id, engine, metadata, quantization, request.batch, trt_version, env)
    seconds = time.monotonic() - build.started
    progress(f"done: {folder}", seconds)
    return BuiltPackage(folder, package, seconds)


def _build_engine(build: _Build, gpu: str, cache_path: Path) -> tuple[bytes, Quantization]:
    """The serialized engine and its precision, built through the persistent timing cache."""
    trt, request = build.trt, build.request
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, parser = _parse_network(build, builder, logger)  # the parser owns weights the build reads
    config = builder.create_builder_config()
    if request.workspace_mb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, request.workspace_mb << 20)
    if request.fp16 and not build.typed:
        config.set_flag(trt.BuilderFlag.FP16)
    profile, opt_shape = _optimization_profile(build, builder, network)
    config.add_optimization_profile(profile)
    calibrator = _int8_calibrator(build, config, profile, opt_shape) if request.int8 and not build.typed else None
    quantization = Quantization.INT8 if request.int8 else Quantization.FP16 if request.fp16 else Quantization.FP32
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    config.set_timing_cache(cache, False)
    monitor = progress_monitor(trt, build.progress, build.started)
    if monitor is not None:
        config.progress_monitor = monitor
    lo, _, hi = request.batch
    building = f"building the {quantization.value} engine for {gpu}, batch {lo}..{hi} (this may take minutes)"
    with phase(build.progress, build.started, building):
        serialized = builder.build_serialized_network(network, config)
    del parser
    if calibrator is not None and calibrator.error is not None:
        raise calibrator.error
    if serialized is None:
        raise ModelLoadError(f"TensorRT could not build an engine from {build.onnx_path}; run with --log-level debug for its log")
    _save_timing_cache(config, cache_path)
    return bytes(serialized), quantization


def _parse_network(build: _Build, builder: Any, logger: Any) -> tuple[Any, Any]:
    """The network parsed from the ONNX graph (its fp16 or int8 Q/DQ copy for a strongly typed
    TensorRT), and the parser, which must outlive the build."""
    trt, request = build.trt, build.request
    flags = 0
    major = str(getattr(trt, "__version__", "10")).split(".")[0]
    if major.isdigit() and int(major) < 10:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)  # TensorRT 8.x (JetPack 5/6.0)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    onnx_bytes = build.onnx_path.read_bytes()
    if build.typed and (request.fp16 or request.int8):
        onnx_bytes = reduced_precision_graph(build.onnx_path, onnx_bytes, build.model, request, build.progress, build.started)
    with phase(build.progress, build.started, f"parsing {build.onnx_path.name}"):
        if not parser.parse(onnx_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelLoadError(f"TensorRT could not parse {build.onnx_path}: {errors or 'unknown error'}")
    return network, parser


def _optimization_profile(build: _Build, builder: Any, network: Any) -> tuple[Any, list[int]]:
    """One profile over the requested batch range, with the image size of model.json where the
    graph leaves it open; and the first input's opt shape (what calibration batches take)."""
    lo, opt, hi = build.request.batch
    profile = builder.create_optimization_profile()
    opt_shapes: list[list[int]] = []
    height, width = build.model.input.size
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = [int(d) for d in tensor.shape]
        fixed = [(height if j == 2 else width if j == 3 else 3) if d < 0 and j > 0 else d for j, d in enumerate(dims)]
        shapes = tuple([n, *fixed[1:]] for n in (lo, opt, hi))
        if dims and dims[0] > 0 and not lo == hi == dims[0]:
            raise ConfigError(f"{build.onnx_path} has a fixed batch of {dims[0]}; --batch must be {dims[0]}")
        profile.set_shape(tensor.name, *shapes)
        opt_shapes.append(shapes[1])
    return profile, opt_shapes[0]


def _int8_calibrator(build: _Build, config: Any, profile: Any, shape: list[int]) -> Any:
    """TensorRT 10: implicit int8 quantization, calibrated by TensorRT itself on the folder's images."""
    trt, request, model = build.trt, build.request, build.model
    assert request.calibration_dir is not None
    config.set_flag(trt.BuilderFlag.INT8)
    cache = vigil_home() / "trt" / f"calibration-{model.model_id}.cache"
    calibrator = make_calibrator(trt, model, request.calibration_dir, shape, request.calibration_batches, cache)
    config.int8_calibrator = calibrator
    if hasattr(config, "set_calibration_profile"):
        config.set_calibration_profile(profile)
    return calibrator


def _save_timing_cache(config: Any, path: Path) -> None:
    timing = config.get_timing_cache()
    if timing is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(timing.serialize()))
        tmp.replace(path)


def write_engine_package(
    folder: Path,
    package_id: str,
    engine: bytes,
    metadata: dict[str, str],
    quantization: Quantization,
    batch: tuple[int, int, int],
    trt_version: str,
    env: RuntimeEnvironment,
) -> PackageMetadata:
    folder.mkdir(parents=True, exist_ok=True)
    files = {"model.engine": engine, METADATA_FILE: json.dumps(metadata, indent=2, sort_keys=True).encode()}
    entries = []
    for name, content in files.items():
        (folder / name).write_bytes(content)
        entries.append({"name": name, "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)})
    lo, opt, hi = batch
    gpu = env.gpus[0]
    body = {
        "package_id": package_id,
        "backend": "trt",
        "quantization": quantization.value,
        "batch": {"static": lo} if lo == hi else {"min": lo, "opt": opt, "max": hi},
        "trt": {
            "version": trt_version,
            "gpu_name": gpu.name,
            "compute_capability": gpu.compute_capability,
            "l4t_version": env.l4t_version,
            "has_plugins": False,
            "host_code": False,
        },
        "trusted": True,
        "files": entries,
    }
    package = PackageMetadata.model_validate(body)
    tmp = folder / (PACKAGE_FILE + ".tmp")
    tmp.write_text(json.dumps(body, indent=2))
    tmp.replace(folder / PACKAGE_FILE)  # package.json last: a half-written package is never listed
    return package


def _onnx_metadata(path: Path) -> dict[str, str]:
    """The ONNX export's metadata (names, end2end, ...), which the engine does not keep."""
    from vigil.engine._private.onnx_runtime import import_onnxruntime

    ort = import_onnxruntime()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)
