"""The OpenVINO runtime behind an onnxruntime-session look-alike, so that every YOLO (detect,
segment, pose, classify) and PP-OCR class runs an `openvino` package with its own pre- and
post-processing unchanged. openvino is imported only inside these functions (the `openvino` extra).

Precision: OpenVINO's CPU plugin runs float graphs in bf16 by default on CPUs with bf16 units
(this machine's EPYC among them), which moves boxes by pixels; vigil asks for f32
(`INFERENCE_PRECISION_HINT`) on the CPU so that an fp32 package equals the ONNX package it was
made from. An int8 package's quantized layers stay int8 under that hint.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine.options import BackendOptions
from vigil.errors import MissingDependencyError, ModelLoadError

__all__ = [
    "DEVICES",
    "INSTALL_HINT",
    "OpenVINOSession",
    "available_devices",
    "device_refusal",
    "import_openvino",
    "open_session",
]

DEVICES = ("AUTO", "CPU", "GPU", "NPU")
INSTALL_HINT = "pip install 'vigil-analytics[openvino]' (openvino, and nncf for int8)"


def import_openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise MissingDependencyError(f"the openvino backend needs OpenVINO, which is not installed: {INSTALL_HINT}") from exc
    return openvino


@functools.lru_cache(maxsize=1)
def _core() -> Any:
    return import_openvino().Core()


def available_devices() -> tuple[str, ...]:
    """The devices OpenVINO sees here (`Core().available_devices`: CPU, GPU, GPU.0, NPU ...)."""
    return tuple(str(d) for d in _core().available_devices)


def device_refusal(device: str, devices: Sequence[str]) -> str | None:
    """Why `device` (AUTO, CPU, GPU, NPU) cannot run here, None when it can. AUTO runs on any."""
    if device == "AUTO" or any(d == device or d.startswith(f"{device}.") for d in devices):
        return None
    return (
        f"OpenVINO device '{device}' is not on this machine (OpenVINO sees: {', '.join(devices) or 'none'}); "
        f"set model.openvino.device to one of those or AUTO"
    )


@dataclass(frozen=True)
class _Arg:
    """What onnxruntime's NodeArg offers the runners: a name and a shape (str: dynamic)."""

    name: str
    shape: list[int | str]
    type: str = "tensor(float)"


@dataclass(frozen=True)
class _ModelMeta:
    custom_metadata_map: dict[str, str]


def _shape(port: Any) -> list[int | str]:
    return [d.get_length() if d.is_static else str(d) for d in port.get_partial_shape()]


def _framework_metadata(model: Any) -> dict[str, str]:
    """The ONNX export's metadata_props, which OpenVINO's ONNX frontend keeps in the model's
    rt_info under `framework` (and `save_model` writes into the .xml)."""
    if not model.has_rt_info(["framework"]):
        return {}
    framework = model.get_rt_info(["framework"])
    try:
        keys = list(framework.astype(dict).keys())
    except (AttributeError, TypeError, RuntimeError):
        return {}
    return {str(key): str(model.get_rt_info(["framework", key]).astype(str)) for key in keys}


class OpenVINOSession:
    """An onnxruntime.InferenceSession look-alike over a compiled OpenVINO model (`get_inputs`,
    `get_outputs`, `get_modelmeta`, `run(None, feeds)`). One infer request, used by one caller
    at a time (onnxruntime's sessions may be called from several threads; this one locks)."""

    def __init__(self, model: Any, compiled: Any, device: str) -> None:
        self.device = device
        self._inputs = [_Arg(port.get_any_name(), _shape(port)) for port in model.inputs]
        self._outputs = [_Arg(port.get_any_name(), _shape(port)) for port in model.outputs]
        self._metadata = _framework_metadata(model)
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()

    def get_inputs(self) -> list[_Arg]:
        return list(self._inputs)

    def get_outputs(self) -> list[_Arg]:
        return list(self._outputs)

    def get_modelmeta(self) -> _ModelMeta:
        return _ModelMeta(dict(self._metadata))

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            if self._request is None:
                raise RuntimeError("the OpenVINO session is closed")
            results = self._request.infer({name: np.ascontiguousarray(value) for name, value in feeds.items()})
            outputs = [np.array(results[port], copy=True) for port in self._compiled.outputs]
        if output_names is None:
            return outputs
        by_name = {arg.name: out for arg, out in zip(self._outputs, outputs)}
        return [by_name[name] for name in output_names]

    def close(self) -> None:
        with self._lock:
            self._request = None
            self._compiled = None


def compile_properties(device: str, backend: BackendOptions) -> dict[str, str]:
    """What vigil asks OpenVINO for: f32 on the CPU (see the module's note), one latency-bound
    request, the caller's intra-op threads on the CPU, and threads not pinned to cores: the
    daemon shares them with decoding and post-processing, and pinned threads cannot move off a
    busy core (nudenet at 320, 2 threads, 2 cores shared with other jobs, batch-1 median over
    three runs each: pinned 32, 42, 50 ms; not pinned 26, 29, 26 ms; onnxruntime 19, 26, 21 ms)."""
    properties = {"PERFORMANCE_HINT": "LATENCY"}
    if device in ("CPU", "AUTO"):
        properties["INFERENCE_PRECISION_HINT"] = "f32"
    if device == "CPU":
        properties["ENABLE_CPU_PINNING"] = "NO"
        if backend.intra_op_threads:
            properties["INFERENCE_NUM_THREADS"] = str(backend.intra_op_threads)
    return properties


def open_session(path: Path, backend: BackendOptions) -> OpenVINOSession:
    """A compiled `path` (.xml beside its .bin) on the device `backend.openvino_device` names."""
    ov = import_openvino()
    device = backend.openvino_device
    refusal = device_refusal(device, available_devices())
    if refusal is not None:
        raise ModelLoadError(f"model '{path}': {refusal}")
    core = _core()
    try:
        model = core.read_model(str(path))
        compiled = core.compile_model(model, device, compile_properties(device, backend))
    except Exception as exc:  # OpenVINO raises RuntimeError with a C++ trace for every failure
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
        raise ModelLoadError(
            f"model '{path}': OpenVINO {ov.__version__} could not load it on {device} ({first}); "
            "convert the ONNX package again (vigil models convert MODEL_DIR --to openvino)"
        ) from exc
    return OpenVINOSession(model, compiled, device)


def openvino_device(p: Any, r: Any, env: Any) -> str | None:
    """The resolver's check of an `openvino` package (`BackendKind.checks`): the device
    `model.openvino.device` names must be one OpenVINO sees here, and agree with `model.device`."""
    if "openvino" not in env.backends:
        return None  # refused as not installed already
    device = r.openvino_device or "CPU"
    if r.device == "cpu" and device in ("GPU", "NPU"):
        return f"device 'cpu' requested but model.openvino.device is {device}"
    if r.device == "gpu" and device in ("CPU", "NPU"):
        return f"device 'gpu' requested but model.openvino.device is {device}"
    try:
        devices = available_devices()
    except (RuntimeError, OSError) as exc:  # a broken install: say so rather than fail the whole resolution
        return f"OpenVINO cannot list its devices ({type(exc).__name__}: {str(exc)[:200]}); {INSTALL_HINT}"
    return device_refusal(device, devices)


def verify_source(package: Any, folder: Path) -> None:
    """Refuse an `openvino` package whose source ONNX package (beside it in the model directory)
    has changed since it was converted: it would run the old weights. A model directory fetched
    without its source package (a provider's cache) is not checked."""
    from vigil.engine._private.openvino_convert import source_digest
    from vigil.engine._private.package_format import PACKAGE_FILE, parse_package

    details = package.openvino
    source_file = folder.parent / (details.source if details else "") / PACKAGE_FILE
    if details is None or not source_file.is_file():
        return
    try:
        source = parse_package(json.loads(source_file.read_text(encoding="utf-8")), f"package '{source_file}'")
    except (OSError, ValueError, ModelLoadError):
        return  # a broken source package is refused on its own; this one's files are verified
    if source_digest(source) != details.source_sha256:
        raise ModelLoadError(
            f"package '{package.package_id}' was converted from package '{details.source}' as it was before: that "
            f"package's files have changed since; convert it again (vigil models convert {folder.parent} --to openvino)"
        )
