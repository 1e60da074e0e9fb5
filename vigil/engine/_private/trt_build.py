"""Build a TensorRT engine on this machine from a model's ONNX package, and store it as a new
package (`vigil models build-engine`). Imports tensorrt only when called.

The engine is tied to the GPU, the TensorRT version and (on a Jetson) the L4T release it was
built on; package.json records them so the resolver picks the package here and refuses it
anywhere else. A persistent timing cache in VIGIL_HOME/trt makes rebuilds much faster.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.download import vigil_home
from vigil.engine._private.environment import RuntimeEnvironment
from vigil.engine._private.package_format import PACKAGE_FILE, ModelMetadata, PackageMetadata
from vigil.engine._private.trt_runtime import METADATA_FILE, default_device, load_tensorrt
from vigil.engine.enums import BackendType, Quantization
from vigil.errors import ConfigError, ModelLoadError

__all__ = ["BuildRequest", "BuiltPackage", "build_engine_package", "choose_onnx_package", "timing_cache_path"]

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]  # (phase, seconds since the build started)
_HEARTBEAT_S = 15.0


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
        if p.backend is not BackendType.ONNX or p.carries_code:
            continue
        spec = p.batch.to_spec()
        if spec.static and not lo == hi == spec.max:
            continue
        if not spec.static and (lo < spec.min or (spec.max is not None and hi > spec.max)):
            continue
        fitting.append(p)
    if not fitting:
        described = ", ".join(f"{p.package_id} (batch {p.batch.describe()})" for p in packages if p.backend is BackendType.ONNX)
        raise ConfigError(
            f"no ONNX package accepts batch {lo}..{hi}: {described or 'the model has no ONNX package'}; "
            "choose --batch within one of them"
        )
    order = (Quantization.FP32, Quantization.FP16, Quantization.BF16, Quantization.INT8)
    fitting.sort(key=lambda p: (order.index(p.quantization) if p.quantization in order else 9, int(p.batch.static is not None), p.package_id))
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


@contextmanager
def _phase(progress: Progress, started: float, phase: str) -> Iterator[None]:
    """Report `phase` at its start and every _HEARTBEAT_S while it runs (a build takes minutes)."""
    progress(phase, time.monotonic() - started)
    done = threading.Event()

    def beat() -> None:
        while not done.wait(_HEARTBEAT_S):
            progress(f"{phase} (still running)", time.monotonic() - started)

    thread = threading.Thread(target=beat, name="trt-build-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _log_progress(phase: str, elapsed: float) -> None:
    log.info("TensorRT build: %s (%.0f s elapsed)", phase, elapsed)


def build_engine_package(
    model: ModelMetadata,
    onnx_package: PackageMetadata,
    onnx_folder: Path,
    out_root: Path,
    request: BuildRequest,
    env: RuntimeEnvironment,
    *,
    progress: Progress = _log_progress,
    trt: Any = None,
) -> BuiltPackage:
    """Build the engine and write `out_root/<package_id>/{model.engine, metadata.json, package.json}`."""
    trt = trt if trt is not None else load_tensorrt()
    if not env.gpus:
        raise ModelLoadError("building a TensorRT engine needs an NVIDIA GPU; none found (nvidia-smi, /etc/nv_tegra_release)")
    if request.int8 and request.calibration_dir is None:
        raise ConfigError("--int8 needs --calibration DIR (a folder of representative images)")
    started = time.monotonic()
    onnx_path = onnx_folder / onnx_package.main_file((".onnx",)).name
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if str(getattr(trt, "__version__", "10")).split(".")[0].isdigit() and int(str(trt.__version__).split(".")[0]) < 10:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)  # TensorRT 8.x (JetPack 5/6.0)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    onnx_bytes = onnx_path.read_bytes()
    typed = strongly_typed(trt)
    if typed and (request.fp16 or request.int8):
        onnx_bytes = _reduced_precision_graph(onnx_path, onnx_bytes, model, request, progress, started)
    with _phase(progress, started, f"parsing {onnx_path.name}"):
        if not parser.parse(onnx_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelLoadError(f"TensorRT could not parse {onnx_path}: {errors or 'unknown error'}")
    config = builder.create_builder_config()
    if request.workspace_mb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, request.workspace_mb << 20)
    quantization = Quantization.FP32
    if request.fp16:
        if not typed:
            config.set_flag(trt.BuilderFlag.FP16)
        quantization = Quantization.FP16
    lo, opt, hi = request.batch
    profile = builder.create_optimization_profile()
    input_shapes: dict[str, tuple[list[int], list[int], list[int]]] = {}
    height, width = model.input.size
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = [int(d) for d in tensor.shape]
        fixed = [(height if j == 2 else width if j == 3 else 3) if d < 0 and j > 0 else d for j, d in enumerate(dims)]
        shapes = tuple([n, *fixed[1:]] for n in (lo, opt, hi))
        if dims and dims[0] > 0 and not lo == hi == dims[0]:
            raise ConfigError(f"{onnx_path} has a fixed batch of {dims[0]}; --batch must be {dims[0]}")
        profile.set_shape(tensor.name, *shapes)
        input_shapes[tensor.name] = (shapes[0], shapes[1], shapes[2])
    config.add_optimization_profile(profile)
    calibrator = None
    if request.int8:
        assert request.calibration_dir is not None
        quantization = Quantization.INT8
        if not typed:  # TensorRT 10: implicit quantization, calibrated by TensorRT itself
            config.set_flag(trt.BuilderFlag.INT8)
            first = next(iter(input_shapes.values()))[1]
            calibrator = make_calibrator(trt, model, request.calibration_dir, first, request.calibration_batches,
                                         vigil_home() / "trt" / f"calibration-{model.model_id}.cache")
            config.int8_calibrator = calibrator
            if hasattr(config, "set_calibration_profile"):
                config.set_calibration_profile(profile)
    trt_version = str(getattr(trt, "__version__", env.trt_version or "0"))
    gpu = env.gpus[0]
    cache_path = timing_cache_path(trt_version, gpu.name)
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.is_file() else b"")
    config.set_timing_cache(cache, False)
    monitor = _progress_monitor(trt, progress, started)
    if monitor is not None:
        config.progress_monitor = monitor
    with _phase(progress, started, f"building the {quantization.value} engine for {gpu.name}, batch {lo}..{hi} (this may take minutes)"):
        serialized = builder.build_serialized_network(network, config)
    if calibrator is not None and calibrator.error is not None:
        raise calibrator.error
    if serialized is None:
        raise ModelLoadError(f"TensorRT could not build an engine from {onnx_path}; run with --log-level debug for its log")
    engine_bytes = bytes(serialized)
    timing = config.get_timing_cache()
    if timing is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(".tmp")
        tmp.write_bytes(bytes(timing.serialize()))
        tmp.replace(cache_path)
    metadata = _onnx_metadata(onnx_path)
    package_id = package_id_for(env, quantization, request.batch)
    folder = out_root / package_id
    with _phase(progress, started, f"writing package {package_id}"):
        package = write_engine_package(folder, package_id, engine_bytes, metadata, quantization, request.batch,
                                       trt_version, env)
    seconds = time.monotonic() - started
    progress(f"done: {folder}", seconds)
    return BuiltPackage(folder, package, seconds)


def write_engine_package(
    folder: Path, package_id: str, engine: bytes, metadata: dict[str, str], quantization: Quantization,
    batch: tuple[int, int, int], trt_version: str, env: RuntimeEnvironment,
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


def _progress_monitor(trt: Any, progress: Progress, started: float) -> Any:
    """TensorRT >= 10's IProgressMonitor, reporting its phases through `progress`."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class Monitor(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self._steps: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self._steps[phase_name] = num_steps
            progress(f"TensorRT phase '{phase_name}' ({num_steps} steps)", time.monotonic() - started)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            progress(f"TensorRT phase '{phase_name}' finished", time.monotonic() - started)

    return Monitor()


def strongly_typed(trt: Any) -> bool:
    """TensorRT 11 removed the precision builder flags (FP16, INT8 and the calibrator): the
    network's precision comes from the ONNX graph alone."""
    return not hasattr(trt.BuilderFlag, "FP16")


def _reduced_precision_graph(
    onnx_path: Path, onnx_bytes: bytes, model: ModelMetadata, request: BuildRequest, progress: Progress, started: float,
) -> bytes:
    """The fp16 or int8 (Q/DQ) copy of the graph that a strongly typed TensorRT builds from."""
    from vigil.engine._private import onnx_precision

    if request.int8:
        assert request.calibration_dir is not None
        input_name, batch = _graph_input(onnx_bytes, request.batch[1], model)
        with _phase(progress, started, f"calibrating int8 Q/DQ scales on {request.calibration_dir} (TensorRT 11 reads precision from the graph)"):
            return onnx_precision.to_int8_qdq(
                onnx_path, input_name, calibration_batches(model, request.calibration_dir, batch, request.calibration_batches),
            )
    with _phase(progress, started, "converting the graph to fp16 (TensorRT 11 reads precision from the graph)"):
        return onnx_precision.to_fp16(onnx_bytes)


def _graph_input(onnx_bytes: bytes, opt_batch: int, model: ModelMetadata) -> tuple[str, list[int]]:
    """The image input's name and the (N, 3, H, W) shape calibration batches take."""
    from vigil.engine._private.onnx_precision import require_onnx

    require_onnx()
    import onnx

    graph = onnx.load_from_string(onnx_bytes).graph
    initializers = {i.name for i in graph.initializer}
    value = next(v for v in graph.input if v.name not in initializers)
    dim0 = value.type.tensor_type.shape.dim[0]
    batch = dim0.dim_value if dim0.HasField("dim_value") and dim0.dim_value > 0 else opt_batch
    height, width = model.input.size
    return value.name, [batch, 3, height, width]


def calibration_batches(model: ModelMetadata, folder: Path, shape: list[int], max_batches: int) -> Iterator[np.ndarray]:
    """Letterboxed float32 NCHW batches of the images in `folder`, in model.json's input format;
    at most `max_batches`, wrapping around to fill the last one."""
    import cv2

    from vigil.engine.models.yolo import _ultralytics_ops as ops

    if not folder.is_dir():
        raise ConfigError(f"--calibration {folder}: not a directory; give a folder of representative images")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))
    if not paths:
        raise ConfigError(f"--calibration {folder}: no .jpg/.png images found")
    batch, _, height, width = shape

    def batches() -> Iterator[np.ndarray]:
        for start in range(0, min(len(paths), batch * max_batches), batch):
            tensor = np.zeros((batch, 3, height, width), np.float32)
            for i in range(batch):
                path = paths[(start + i) % len(paths)]
                image = cv2.imread(str(path))
                if image is None:
                    raise ConfigError(f"--calibration: cannot read {path}; remove it or convert it to JPEG/PNG")
                box = ops.plan_letterbox(image.shape[0], image.shape[1], height, width, False, model.input.stride)
                ops.letterbox_into(image, box, tensor[i])
            yield tensor

    return batches()


def make_calibrator(trt: Any, model: ModelMetadata, folder: Path, shape: list[int], max_batches: int, cache: Path) -> Any:
    """TensorRT 10's entropy calibrator, fed by calibration_batches()."""
    batches = calibration_batches(model, folder, shape, max_batches)
    batch, _, height, width = shape
    device = default_device()
    base = trt.IInt8EntropyCalibrator2

    class Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.error: ConfigError | None = None
            self._stream = device.create_stream()
            self._buffer = device.alloc(batch * 3 * height * width * 4)

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            # TensorRT calls this from C++: an exception would not reach the caller, so it is kept
            # and raised once the build returns.
            try:
                tensor = next(batches, None)
            except ConfigError as exc:
                self.error = exc
                return None
            if tensor is None:
                return None
            device.copy_htod_async(self._buffer, tensor, self._stream)
            device.synchronize(self._stream)
            return [self._buffer]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: bytes) -> None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(bytes(data))

    return Calibrator()
