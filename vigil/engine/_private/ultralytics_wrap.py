"""Wrap a bare Ultralytics ONNX export as a one-package model, from its own metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vigil.engine._private.hashing import sha256_of
from vigil.engine._private.onnx_runtime import import_onnxruntime, read_ultralytics_metadata
from vigil.engine._private.package_format import ModelMetadata, PackageMetadata, parse_model, parse_package
from vigil.engine._private.providers import ModelListing
from vigil.errors import ModelLoadError

_TASKS = {"detect", "segment", "pose", "classify"}


def _fixed(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def describe_ultralytics_onnx(path: Path) -> ModelListing:
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # only reading it
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises untyped errors (InvalidProtobuf, Fail, ...)
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelLoadError(
            f"model '{path}': onnxruntime could not load it ({first_line}); check that the file is a complete ONNX export"
        ) from exc
    file = {"name": path.name, "sha256": sha256_of(path), "size": path.stat().st_size}
    model, package = wrap_metadata(path, session.get_modelmeta().custom_metadata_map, session.get_inputs()[0].shape, file)
    return ModelListing(model, [package], lambda _package: path.parent)


def wrap_metadata(
    path: Path, props: Mapping[str, str], input_shape: Sequence[Any], file: dict[str, Any]
) -> tuple[ModelMetadata, PackageMetadata]:
    """The model and its one package, from the export's metadata and its input's shape."""
    meta = read_ultralytics_metadata(path, dict(props))
    if meta.task not in _TASKS:
        raise ModelLoadError(f"model '{path}': unknown Ultralytics task '{meta.task[:50]}'")
    shape = list(input_shape) + [None] * 4
    batch_dim, height, width = _fixed(shape[0]), _fixed(shape[2]), _fixed(shape[3])
    dynamic_size = height is None or width is None
    # model_id is ASCII, starts with a letter or digit, at most 128 characters (package_format).
    model_id = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem).lstrip("_.-")[:128] or "model"
    model = parse_model(
        {
            "model_id": model_id,
            "architecture": "yolo",
            "task": meta.task,
            "class_names": list(meta.names),
            "input": {
                "size": list(meta.imgsz) if dynamic_size else [height, width],
                "dynamic_size": dynamic_size,
                "stride": meta.stride,
                "resize": "center-crop" if meta.task == "classify" else "letterbox",
            },
            "keypoint_shape": list(meta.kpt_shape) if meta.kpt_shape else None,
        },
        f"model '{path}'",
    )
    package = parse_package(
        {
            "package_id": "onnx",
            "backend": "onnx",
            "batch": {"static": batch_dim} if batch_dim else {"min": 1, "max": None},
            "files": [file],
        },
        f"model '{path}'",
    )
    return model, package
