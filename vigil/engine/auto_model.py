"""`AutoModel`: one entry point that turns a model reference into a ready model.

Today a reference is a path to an Ultralytics ONNX export; the package resolver (model
directories with several packages, weights providers, caches) grows behind this same face.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from vigil.engine.base import ObjectDetectionModel
from vigil.engine.options import DetectionOptions
from vigil.errors import ModelLoadError, ModelNotFoundError

__all__ = ["AutoModel"]

# (task, backend) -> "module:Class", imported only when chosen so no backend loads unless used.
_REGISTRY: dict[tuple[str, str], str] = {
    ("detect", "onnx"): "vigil.engine.models.yolo.yolo_detection_onnx:YOLODetectionONNX",
}


def _model_class(task: str, backend: str) -> Any:
    target = _REGISTRY.get((task, backend))
    if target is None:
        raise ModelLoadError(f"no vigil model implements task '{task}' on backend '{backend}'")
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


class AutoModel:
    """Load a model from a reference.

        model = AutoModel.from_pretrained("yolov8n.onnx", confidence=0.4)
        detections = model([image])[0]
    """

    @classmethod
    def from_pretrained(
        cls,
        ref: str | Path,
        *,
        options: DetectionOptions | None = None,
        providers: list[str] | None = None,
        **option_values: Any,
    ) -> ObjectDetectionModel:
        """Load `ref` (a path to an Ultralytics ONNX export).

        Options come as a `DetectionOptions` or as its fields by keyword
        (`confidence`, `iou`, `max_det`, `image_size`, `intra_op_threads`).
        """
        if options is None:
            try:
                options = DetectionOptions(**option_values)
            except (TypeError, ValueError) as exc:
                raise ModelLoadError(f"model '{ref}': bad option: {exc}") from exc
        elif option_values:
            raise TypeError("pass either options= or option keywords, not both")
        path = Path(ref).expanduser()
        if not path.exists():
            raise ModelNotFoundError(f"model '{ref}' not found: no such file; pass the path of an ONNX export")
        if path.is_dir() or path.suffix.lower() != ".onnx":
            raise ModelLoadError(f"model '{ref}': expected an .onnx file (model directories come with the package resolver)")
        return _model_class("detect", "onnx").load(path, options, providers)
