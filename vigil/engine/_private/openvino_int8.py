"""An int8 `openvino` package made here with NNCF's post-training quantization, measured as
`vigil models quantize` measures its int8 ONNX packages (`quantize.py`): the calibration folder's
images (every fourth held out), letterboxed into the model's full input size; the agreement is
the F1 of the int8 package's detections against the fp32 ONNX package's on the held-out images,
the speedup the ratio of the best batch times of the OpenVINO fp32 and int8 graphs (same batch,
same threads, alternating). Both go into package.json (`int8`), where the resolver reads them.

The Detect head's decoding (the DFL, the box arithmetic, the score sigmoid) stays in float: in
int8 it put box coordinates (0..640) and scores (0..1) behind shared scales. When every other
layer in int8 misses the target agreement, the class-score branch is kept in float too.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.environment import current_environment
from vigil.engine._private.openvino_convert import (
    ConvertedPackage,
    ConvertRequest,
    convert_graphs,
    replace_folder,
    write_ir_package,
)
from vigil.engine._private.openvino_runtime import INSTALL_HINT, import_openvino
from vigil.engine._private.package_format import MODEL_FILE, ModelMetadata, PackageMetadata
from vigil.engine._private.quantize import (
    QuantizeRequest,
    _batches,
    _best_times,
    _cpu_name,
    _detect,
    detection_agreement,
    read_calibration_images,
)
from vigil.engine._private.trt_build_progress import Progress, log_progress, phase
from vigil.engine.enums import Quantization
from vigil.errors import ConfigError, MissingDependencyError

__all__ = ["quantize_openvino"]

_TASKS = ("detect", "segment", "pose")  # the agreement compares boxes


def _import_nncf() -> Any:
    try:
        import nncf
    except ImportError as exc:
        raise MissingDependencyError(f"--int8 quantizes with NNCF, which is not installed: {INSTALL_HINT}") from exc
    return nncf


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """NNCF logs every op it leaves alone and draws progress bars; vigil reports its own phases."""
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def _head_scopes(graph: Any) -> tuple[list[str], list[str]]:
    """(regex patterns of the Detect head's decoding ops, names of its class-score branch's
    Convs): the head is the module holding `dfl` in Ultralytics' exports (`/model.<N>/dfl/...`)."""
    ops = list(graph.get_ops())
    names = [op.get_friendly_name() for op in ops]
    heads = {name.split("/dfl/")[0] for name in names if "/dfl/" in name}
    if len(heads) != 1:
        return [], []
    head = heads.pop()
    decoding = [f"{re.escape(head)}/dfl/.*", f"{re.escape(head)}/(Add|Sub|Mul|Div)(_[0-9]+)?$"]
    branch = [n for op, n in zip(ops, names) if op.get_type_name() == "Convolution" and n.startswith(f"{head}/cv3")]
    return decoding, branch


def _load(model_dir: Path, package_id: str, backend: str, request: ConvertRequest) -> Any:
    from vigil.engine._private.loader import load_model
    from vigil.engine._private.resolver import ResolutionRequest
    from vigil.engine.options import BackendOptions, DetectionOptions

    resolution = ResolutionRequest(backends=(backend,), device="cpu", package_id=package_id)
    options, backend_options = DetectionOptions(image_size=request.image_size), BackendOptions(intra_op_threads=request.threads)
    return load_model(model_dir, resolution, options, backend_options, cache_ttl_s=0)


def quantize_openvino(
    model: ModelMetadata,
    source: PackageMetadata,
    source_folder: Path,
    model_dir: Path,
    request: ConvertRequest,
    *,
    progress: Progress = log_progress,
) -> ConvertedPackage:
    """Write `model_dir/openvino-int8/`, quantized and measured (see the module's note)."""
    ov, nncf = import_openvino(), _import_nncf()
    if request.calibration_dir is None:
        raise ConfigError("--int8 needs --calibration DIR (a folder of representative images)")
    if model.architecture != "yolo" or model.task not in _TASKS:
        raise ConfigError(
            f"model '{model.model_id}' ({model.architecture}, {model.task}): --int8 makes int8 packages of YOLO "
            f"{', '.join(_TASKS)} models, whose boxes it compares with fp32's"
        )
    started = time.monotonic()
    with phase(progress, started, f"reading calibration images from {request.calibration_dir}"):
        _, images = read_calibration_images(request.calibration_dir, request.max_images)
    held_out = [img for i, img in enumerate(images) if i % 4 == 3]
    calibration = [img for i, img in enumerate(images) if i % 4 != 3]
    graph = convert_graphs(ov, source, source_folder, progress, started)["model"]
    folder = model_dir / "openvino-int8"
    with tempfile.TemporaryDirectory(prefix=".convert-", dir=model_dir) as scratch_name:
        scratch = Path(scratch_name)
        shutil.copyfile(model_dir / MODEL_FILE, scratch / MODEL_FILE)
        write_ir_package(ov, scratch / "fp32", {"model": graph}, source, Quantization.FP32)
        with contextlib.closing(_load(model_dir, source.package_id, "onnx", request)) as reference:
            with contextlib.closing(_load(scratch, "fp32", "openvino", request)) as ov_fp32:
                job = _Job(nncf, ov, model, source, request, progress, started, reference, ov_fp32, scratch)
                best, details = job.best(graph, calibration, held_out)
        staged = scratch / folder.name
        package = write_ir_package(ov, staged, {"model": best}, source, Quantization.INT8, details)
        replace_folder(staged, folder)
    seconds = time.monotonic() - started
    progress(f"done: {folder} (agreement {details['agreement']:.3f}, {details['speedup']:.2f}x faster)", seconds)
    return ConvertedPackage(folder, package, seconds)


@dataclass(frozen=True)
class _Job:
    """One NNCF quantization in progress: what its attempts share (`reference`: the fp32 ONNX
    package loaded, `ov_fp32`: its OpenVINO conversion loaded, `scratch`: where attempts go)."""

    nncf: Any
    ov: Any
    model: ModelMetadata
    source: PackageMetadata
    request: ConvertRequest
    progress: Progress
    started: float
    reference: Any
    ov_fp32: Any
    scratch: Path

    def best(self, graph: Any, calibration: list[np.ndarray], held_out: list[np.ndarray]) -> tuple[Any, dict[str, Any]]:
        """Every layer but the head's decoding in int8 first; below the target agreement, again
        with the class-score branch in float. The first to reach the target wins, else the best."""
        decoding, branch = _head_scopes(graph)
        tensors = [
            t[None] for batch in _batches(self.reference.input_size, self.model.input.stride, calibration, 1) for t in batch
        ]
        dataset = self.nncf.Dataset(tensors)
        best: tuple[Any, dict[str, Any]] | None = None
        for kept in ((), tuple(branch)) if branch else ((),):
            what = f"all but the head's decoding and the {len(kept)} class-score Convs" if kept else "all but the head's decoding"
            with phase(self.progress, self.started, f"quantizing with NNCF ({what}), calibrated on {len(calibration)} images"):
                scope = self.nncf.IgnoredScope(patterns=decoding, names=list(kept), types=["Sigmoid"], validate=False)
                with _quiet():
                    quantized = self.nncf.quantize(
                        graph.clone(),
                        dataset,
                        preset=self.nncf.QuantizationPreset.MIXED,
                        subset_size=len(tensors),
                        ignored_scope=scope,
                    )
            details = self._measure(quantized, kept, len(calibration), held_out)
            if best is None or details["agreement"] > best[1]["agreement"]:
                best = (quantized, details)
            if details["agreement"] >= self.request.target_agreement:
                break
            self.progress(f"agreement {details['agreement']:.3f} is below the target", time.monotonic() - self.started)
        assert best is not None
        return best

    def _measure(self, quantized: Any, kept: tuple[str, ...], calibrated: int, held_out: list[np.ndarray]) -> dict[str, Any]:
        request, batch = self.request, self.request.batch
        attempt = self.scratch / f"int8-{len(kept)}"
        write_ir_package(self.ov, attempt, {"model": quantized}, self.source, Quantization.INT8)
        with contextlib.closing(_load(self.scratch, attempt.name, "openvino", request)) as int8:
            with phase(
                self.progress, self.started, f"measuring agreement with '{self.source.package_id}' on {len(held_out)} images"
            ):
                agreement = detection_agreement(_detect(self.reference, held_out, batch), _detect(int8, held_out, batch))
            with phase(self.progress, self.started, f"measuring speed: batch {batch}, OpenVINO fp32 and int8 alternately"):
                timing = QuantizeRequest(calibration_dir=Path("."), batch=batch, timing_rounds=request.timing_rounds)
                ms32, ms8 = _best_times(self.ov_fp32, int8, held_out, timing)
        env = current_environment()
        return {
            "agreement": round(agreement, 4),
            "speedup": round(ms32 / ms8, 3),
            "reference": self.source.package_id,
            "format": "fakequantize",
            "kept_float": list(kept),
            "calibration_images": calibrated,
            "evaluation_images": len(held_out),
            "input_size": list(self.reference.input_size),
            "measured_on": f"{_cpu_name()}{' (VNNI)' if env.cpu_vnni else ''}, batch {batch}, "
            f"{request.threads or 'default'} threads, against OpenVINO fp32",
        }
