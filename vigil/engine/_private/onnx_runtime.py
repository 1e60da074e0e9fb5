"""onnxruntime session creation and Ultralytics metadata reading. Imported only for ONNX models."""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.engine.options import BackendOptions
from vigil.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - onnxruntime is a core dependency
        raise MissingDependencyError(
            "onnxruntime is not installed: pip install onnxruntime (or onnxruntime-gpu on a GPU box)"
        ) from exc
    return onnxruntime


def create_session(path: Path, options: BackendOptions, excluded_providers: tuple[str, ...] = ()) -> Any:
    """An onnxruntime session for `path` with the caller's threads and execution providers."""
    ort = import_onnxruntime()
    session_options = ort.SessionOptions()
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if options.intra_op_threads:
        session_options.intra_op_num_threads = options.intra_op_threads
    if options.inter_op_threads:
        session_options.inter_op_num_threads = options.inter_op_threads
    # ORT's pool threads spin between ops by default; in a pipeline they then steal the cores
    # that decode and post-processing need (measured on 2 cores: yolo11n 4 sources 19.0 -> 28.7
    # frames/s with spinning off and early-stopped NMS; nudenet unchanged within noise).
    session_options.add_session_config_entry("session.intra_op.allow_spinning", "1" if options.allow_spinning else "0")
    session_options.log_severity_level = 3  # ORT's own warnings would otherwise reach stderr unformatted
    providers = execution_providers(options, excluded_providers)
    if "TensorrtExecutionProvider" in providers:
        from vigil.engine._private.download import vigil_home

        cache = vigil_home() / "ort-tensorrt"
        log.warning(
            "model '%s': onnxruntime's TensorRT provider builds its engines during the first inference; "
            "that can take minutes (on a Jetson often ten); they are cached in %s for the next starts",
            path.name,
            cache,
        )
    else:
        cache = None
    try:
        return ort.InferenceSession(str(path), sess_options=session_options, providers=provider_settings(providers, cache))
    except Exception as exc:  # ORT raises its own untyped errors (InvalidProtobuf, Fail, ...)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(
            f"model '{path}': onnxruntime could not load it ({first_line}); check that the file is a complete ONNX export"
        ) from exc


# Used in this order when present, unless the caller names its own. The TensorRT execution
# provider builds engines on first use (minutes on a Jetson), so it is only used when asked for.
_DEFAULT_PROVIDER_ORDER = ("CUDAExecutionProvider", "CPUExecutionProvider")


def provider_settings(providers: list[str], trt_cache: Path | None) -> list[str | tuple[str, dict[str, str]]]:
    """`providers` for `InferenceSession`, with the TensorRT provider's engine and timing caches
    kept under `trt_cache` (vigil's cache), so engines built once are reused at the next start."""
    settings: list[str | tuple[str, dict[str, str]]] = []
    for name in providers:
        if name == "TensorrtExecutionProvider" and trt_cache is not None:
            trt_cache.mkdir(parents=True, exist_ok=True)
            settings.append(
                (
                    name,
                    {
                        "trt_engine_cache_enable": "True",
                        "trt_engine_cache_path": str(trt_cache),
                        "trt_timing_cache_enable": "True",
                        "trt_timing_cache_path": str(trt_cache),
                    },
                )
            )
        else:
            settings.append(name)
    return settings


def execution_providers(options: BackendOptions, excluded: tuple[str, ...] = ()) -> list[str]:
    available = import_onnxruntime().get_available_providers()
    wanted = options.execution_providers or _DEFAULT_PROVIDER_ORDER
    chosen = [p for p in wanted if p in available and p not in excluded]
    if not chosen:
        raise ModelLoadError(
            f"none of the execution providers {list(wanted)} is available and compatible "
            f"(available: {available}; the package excludes {list(excluded)})"
        )
    return chosen


@dataclass(frozen=True, slots=True)
class UltralyticsMetadata:
    """What Ultralytics writes into an ONNX export's metadata_props."""

    task: str
    names: tuple[str, ...]
    imgsz: tuple[int, int]
    stride: int
    batch: int
    end2end: bool
    kpt_shape: tuple[int, int] | None = None


def read_ultralytics_metadata(path: Path, props: dict[str, str]) -> UltralyticsMetadata:
    missing = [key for key in ("names", "imgsz", "task") if key not in props]
    if missing:
        raise ModelLoadError(
            f"model '{path}': not an Ultralytics YOLO export (metadata lacks {', '.join(missing)}); "
            "export it with `yolo export format=onnx` or use a model package"
        )
    try:
        names_map = ast.literal_eval(props["names"])
        imgsz = ast.literal_eval(props["imgsz"])
        names = tuple(str(names_map[i]) for i in range(len(names_map)))
        if isinstance(imgsz, int):
            imgsz = [imgsz, imgsz]
        return UltralyticsMetadata(
            task=props["task"],
            names=names,
            imgsz=(int(imgsz[0]), int(imgsz[1])),
            stride=int(props.get("stride", 32)),
            batch=int(props.get("batch", 1)),
            end2end=props.get("end2end", "False") == "True",
            kpt_shape=_pair(props["kpt_shape"]) if "kpt_shape" in props else None,
        )
    # The metadata comes with the file, from anywhere: literal_eval and int() raise what they
    # meet (a deeply nested literal: RecursionError or MemoryError; int(inf): OverflowError).
    except (ValueError, SyntaxError, KeyError, TypeError, IndexError, OverflowError, RecursionError, MemoryError) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"model '{path}': unreadable Ultralytics metadata ({detail})") from None


def _pair(text: str) -> tuple[int, int]:
    first, second = ast.literal_eval(text)
    return int(first), int(second)
