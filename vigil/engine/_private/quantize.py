"""Make an int8 ONNX package on this machine from a model's fp32 one (`vigil models quantize`),
and measure it against that package: agreement of the detections and speedup.

The graph is quantized by `quantize_graph.int8_graph` (the choices made there were measured on
nudenet's YOLOv8n; figures in docs/MODEL_PACKAGES.md). When every Conv in int8 misses the target
agreement, the Detect head's class-score branch is kept in float and measured again.

Held-out images (every fourth of the folder) never take part in calibration; the agreement is
the F1 of the int8 package's post-processed detections against the fp32 package's (same class,
IoU >= 0.5), the speedup the ratio of their best inference times on the same batch and threads.
Both go into package.json (`int8`), where the resolver reads them.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.environment import RuntimeEnvironment
from vigil.engine._private.hashing import sha256_of
from vigil.engine._private.onnx_precision import require_onnx
from vigil.engine._private.package_format import MODEL_FILE, PACKAGE_FILE, ModelMetadata, PackageMetadata, parse_package
from vigil.engine._private.quantize_graph import int8_graph, score_branch
from vigil.engine._private.trt_build_progress import Progress, log_progress, phase
from vigil.engine.detections import Detections
from vigil.engine.enums import BackendType, Quantization
from vigil.errors import ConfigError

__all__ = [
    "MIN_IMAGES",
    "QuantizeRequest",
    "QuantizedPackage",
    "choose_float_package",
    "detection_agreement",
    "quantize_package",
    "read_calibration_images",
]

MIN_IMAGES = 8  # six to calibrate, two held out: fewer cannot say anything about agreement
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_TASKS = ("detect", "segment", "pose")  # the agreement compares boxes


@dataclass(frozen=True)
class QuantizeRequest:
    """`calibration_dir`: representative images (every fourth is held out for the agreement);
    `batch` and `threads`: what the speedup is measured with (None: onnxruntime's default);
    `target_agreement`: below it, the class-score branch is kept in float and measured again;
    `image_size`: the inference size to calibrate and measure at (None: the model's own)."""

    calibration_dir: Path
    batch: int = 4
    threads: int | None = None
    timing_rounds: int = 20
    max_images: int = 256
    target_agreement: float = 0.95
    image_size: int | None = None  # calibrate and measure at this size (dynamic-size exports); None: model.json's


@dataclass(frozen=True)
class QuantizedPackage:
    folder: Path
    package: PackageMetadata
    seconds: float
    reference_ms: float  # best inference time of one batch, fp32
    int8_ms: float


def read_calibration_images(folder: Path, max_images: int = 256) -> tuple[list[Path], list[np.ndarray]]:
    """The folder's images (sorted by name, at most `max_images`), decoded as BGR; a clear error
    for a missing or empty folder, an unreadable image, or fewer than MIN_IMAGES."""
    import cv2

    if not folder.is_dir():
        raise ConfigError(f"--calibration {folder}: not a directory; give a folder of representative images")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)[:max_images]
    if not paths:
        raise ConfigError(
            f"--calibration {folder}: no images found ({', '.join(IMAGE_SUFFIXES)}); "
            f"put at least {MIN_IMAGES} frames from your cameras there"
        )
    if len(paths) < MIN_IMAGES:
        raise ConfigError(
            f"--calibration {folder}: {len(paths)} image(s), at least {MIN_IMAGES} needed "
            "(every fourth is held out to measure the agreement); add frames from your cameras"
        )
    images = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ConfigError(f"--calibration: cannot read {path} as an image; remove it or convert it to JPEG/PNG")
        images.append(image)
    return paths, images


def choose_float_package(packages: Sequence[PackageMetadata]) -> PackageMetadata:
    """The fp32 ONNX package to quantize and compare with (dynamic batch preferred)."""
    fitting = [
        p for p in packages if p.backend == BackendType.ONNX and p.quantization is Quantization.FP32 and not p.carries_code
    ]
    if not fitting:
        described = ", ".join(f"{p.package_id} ({p.backend.value}, {p.quantization.value})" for p in packages)
        raise ConfigError(f"no fp32 ONNX package to quantize among: {described}")
    return min(fitting, key=lambda p: (int(p.batch.static is not None), p.package_id))


def detection_agreement(reference: Sequence[Detections], candidate: Sequence[Detections], iou: float = 0.5) -> float:
    """F1 of `candidate` against `reference`, image by image: a candidate box matches an unmatched
    reference box of the same class with IoU >= `iou` (greedy, strongest reference first).
    1.0 when neither finds anything."""
    matched = found = expected = 0
    for ref, got in zip(reference, candidate, strict=True):
        expected, found = expected + len(ref), found + len(got)
        if not len(ref) or not len(got):
            continue
        overlap = _iou(ref.xyxy, got.xyxy) * (ref.class_id[:, None] == got.class_id[None, :])
        taken = np.zeros(len(got), bool)
        for i in np.argsort(-ref.confidence, kind="stable"):
            scores = np.where(taken, -1.0, overlap[i])
            j = int(np.argmax(scores))
            if scores[j] >= iou:
                taken[j] = True
                matched += 1
    return 1.0 if expected + found == 0 else 2 * matched / (expected + found)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass(frozen=True)
class _Job:
    """One quantization in progress: what its steps share."""

    model: ModelMetadata
    reference: PackageMetadata
    request: QuantizeRequest
    progress: Progress
    started: float  # time.monotonic()

    def phase(self, name: str) -> contextlib.AbstractContextManager[None]:
        return phase(self.progress, self.started, name)


@dataclass(frozen=True)
class _Attempt:
    graph: bytes
    kept_float: tuple[str, ...]  # Conv nodes left in float
    agreement: float
    ms32: float
    ms8: float


def quantize_package(
    model: ModelMetadata,
    reference: PackageMetadata,
    model_dir: Path,
    request: QuantizeRequest,
    env: RuntimeEnvironment,
    *,
    progress: Progress = log_progress,
) -> QuantizedPackage:
    """Quantize `model_dir/<reference>` and write `model_dir/<reference>-int8/` with the measured
    agreement and speedup in its package.json (replacing an earlier int8 package of that name)."""
    require_onnx("quantize")
    if model.architecture != "yolo" or model.task not in _TASKS:
        raise ConfigError(
            f"model '{model.model_id}' ({model.architecture}, {model.task}): quantize makes int8 packages "
            f"of YOLO {', '.join(_TASKS)} models, whose boxes it compares with fp32's"
        )
    job = _Job(model, reference, request, progress, time.monotonic())
    with job.phase(f"reading calibration images from {request.calibration_dir}"):
        _, images = read_calibration_images(request.calibration_dir, request.max_images)
    held_out = [img for i, img in enumerate(images) if i % 4 == 3]
    calibration = [img for i, img in enumerate(images) if i % 4 != 3]
    package_id = f"{reference.package_id}-int8"[:128]
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=model_dir) as scratch_name:
        # The new package is staged in a model directory of its own, loaded from there to be
        # measured, and moved beside the others only once package.json holds the figures.
        scratch = Path(scratch_name)
        shutil.copyfile(model_dir / MODEL_FILE, scratch / MODEL_FILE)
        with contextlib.closing(_load(model_dir, reference.package_id, request)) as fp32:
            best = _best_attempt(job, fp32, model_dir, scratch / package_id, calibration, held_out)
            input_size = list(fp32.input_size)
        staged = _stage(scratch / package_id, best.graph, reference)
        details = {
            "agreement": round(best.agreement, 4),
            "speedup": round(best.ms32 / best.ms8, 3),
            "reference": reference.package_id,
            "format": "qdq",
            "kept_float": list(best.kept_float),
            "calibration_images": len(calibration),
            "evaluation_images": len(held_out),
            "input_size": input_size,
            "measured_on": f"{_cpu_name()}{' (VNNI)' if env.cpu_vnni else ''}, batch {request.batch}, "
            f"{request.threads or 'default'} threads",
        }
        package = _write_package(staged, reference, details)
        folder = model_dir / package_id
        if folder.exists():
            shutil.rmtree(folder)
        staged.replace(folder)
    seconds = time.monotonic() - job.started
    progress(f"done: {folder} (agreement {best.agreement:.3f}, {best.ms32 / best.ms8:.2f}x faster)", seconds)
    return QuantizedPackage(folder, package, seconds, best.ms32, best.ms8)


def _best_attempt(
    job: _Job,
    fp32: Any,
    model_dir: Path,
    folder: Path,
    calibration: list[np.ndarray],
    held_out: list[np.ndarray],
) -> _Attempt:
    """Every Conv in int8 first (fastest); when that misses the target agreement, again with the
    class-score branch in float. The first to reach the target wins, else the best agreement."""
    import onnx

    reference, target = job.reference, job.request.target_agreement
    source = model_dir / reference.package_id / reference.main_file((".onnx",)).name
    branch = tuple(score_branch(onnx.load(str(source), load_external_data=False).graph))
    batches = _batches(fp32.input_size, job.model.input.stride, calibration, job.request.batch)
    best: _Attempt | None = None
    for kept in ((), branch) if branch else ((),):
        what = f"every Conv but the {len(kept)} of the class-score branch" if kept else "every Conv layer"
        with job.phase(f"quantizing '{reference.package_id}' to int8 (Q/DQ, {what}), calibrated on {len(calibration)} images"):
            graph = int8_graph(source, batches, folder.parent, list(kept))
        _stage(folder, graph, reference)
        with contextlib.closing(_load(folder.parent, folder.name, job.request)) as int8:
            attempt = _Attempt(graph, kept, *_measure(job, fp32, int8, held_out))
        if best is None or attempt.agreement > best.agreement:
            best = attempt
        if attempt.agreement >= target:
            break
        job.progress(f"agreement {attempt.agreement:.3f} is below the target {target:g}", time.monotonic() - job.started)
    assert best is not None
    return best


def _stage(folder: Path, graph: bytes, reference: PackageMetadata) -> Path:
    """The quantized graph in `folder`, with a package.json that lets it load (no figures yet)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    (folder / "model.onnx").write_bytes(graph)
    _write_package(folder, reference, None)
    return folder


def _measure(job: _Job, fp32: Any, int8: Any, held_out: list[np.ndarray]) -> tuple[float, float, float]:
    """Agreement of int8 with fp32 on the held-out images, and each one's best batch time (ms)."""
    batch = job.request.batch
    with job.phase(f"measuring agreement with '{job.reference.package_id}' on {len(held_out)} held-out images"):
        agreement = detection_agreement(_detect(fp32, held_out, batch), _detect(int8, held_out, batch))
    with job.phase(f"measuring speed: batch {batch}, {job.request.threads or 'default'} threads, both alternately"):
        ms32, ms8 = _best_times(fp32, int8, held_out, job.request)
    return agreement, ms32, ms8


def _load(model_dir: Path, package_id: str, quantize: QuantizeRequest) -> Any:
    from vigil.engine._private.loader import load_model
    from vigil.engine._private.resolver import ResolutionRequest
    from vigil.engine.options import BackendOptions, DetectionOptions

    request = ResolutionRequest(backends=(BackendType.ONNX,), device="cpu", package_id=package_id)
    options, backend = DetectionOptions(image_size=quantize.image_size), BackendOptions(intra_op_threads=quantize.threads)
    return load_model(model_dir, request, options, backend, cache_ttl_s=0)


def _chunks(images: Sequence[np.ndarray], size: int) -> Iterator[Sequence[np.ndarray]]:
    for start in range(0, len(images), size):
        yield images[start : start + size]


def _batches(input_size: tuple[int, int], stride: int, images: Sequence[np.ndarray], size: int) -> list[np.ndarray]:
    """The calibration images letterboxed into the model's full input size, in batches. The full
    size, padding included, rather than the minimal rectangle the pipeline uses for a batch of
    equal frames: calibrated on rectangles, the padding's range was missed (agreement 0.87
    instead of 0.98 on the same images)."""
    from vigil.engine.models.yolo import _ultralytics_ops as ops

    height, width = input_size
    batches = []
    for chunk in _chunks(images, size):
        tensor = np.empty((len(chunk), 3, height, width), np.float32)
        for i, image in enumerate(chunk):
            box = ops.plan_letterbox(image.shape[0], image.shape[1], height, width, False, stride)
            ops.letterbox_into(image, box, tensor[i])
        batches.append(tensor)
    return batches


def _detect(model: Any, images: Sequence[np.ndarray], size: int) -> list[Detections]:
    results: list[Detections] = []
    for chunk in _chunks(images, size):
        prepared = model.pre_process(chunk)
        results.extend(model.post_process(model.forward(prepared), prepared))
    return results


def _best_times(fp32: Any, int8: Any, images: Sequence[np.ndarray], request: QuantizeRequest) -> tuple[float, float]:
    """Best time (ms) of one batch through each model, alternating so that both see the same load."""
    chosen = [images[i % len(images)] for i in range(request.batch)]
    prepared = [fp32.pre_process(chosen), int8.pre_process(chosen)]
    best = [float("inf"), float("inf")]
    for model, batch in zip((fp32, int8), prepared):
        model.forward(batch)  # first runs allocate
    for _ in range(request.timing_rounds):
        for k, (model, batch) in enumerate(zip((fp32, int8), prepared)):
            t = time.perf_counter()
            model.forward(batch)
            best[k] = min(best[k], time.perf_counter() - t)
    return best[0] * 1e3, best[1] * 1e3


def _write_package(folder: Path, reference: PackageMetadata, int8: dict[str, Any] | None) -> PackageMetadata:
    """package.json of the int8 package in `folder` (its model.onnx already there), written last."""
    onnx_file = folder / "model.onnx"
    body: dict[str, Any] = {
        "package_id": folder.name,
        "backend": "onnx",
        "quantization": "int8",
        "batch": reference.batch.model_dump(exclude_none=True),
        "onnx": {
            "opset": _opset(onnx_file),
            "incompatible_providers": list(reference.onnx.incompatible_providers) if reference.onnx else [],
        },
        "files": [{"name": onnx_file.name, "sha256": sha256_of(onnx_file), "size": onnx_file.stat().st_size}],
    }
    if int8 is not None:
        body["int8"] = int8
    package = parse_package(body, f"package '{folder.name}'")
    tmp = folder / (PACKAGE_FILE + ".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    tmp.replace(folder / PACKAGE_FILE)
    return package


def _opset(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        import platform

        return platform.processor() or "unknown CPU"
    return next((line.partition(":")[2].strip() for line in lines if line.startswith("model name")), "unknown CPU")
