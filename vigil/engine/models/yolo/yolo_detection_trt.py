"""Ultralytics YOLO detection on a TensorRT engine: the ONNX runner's pre/post-processing over a
`TrtSession` (tensorrt is imported only when such a package is loaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vigil.engine._private.package_format import PackageMetadata
from vigil.engine.models.yolo.yolo_detection_onnx import YOLODetectionONNX
from vigil.engine.options import BackendOptions


class TrtSessionMixin:
    """Opens the package's engine instead of an onnxruntime session."""

    @classmethod
    def _open_session(cls, package: PackageMetadata, folder: Path, backend: BackendOptions) -> tuple[Path, Any]:
        from vigil.engine._private.trt_runtime import TrtSession

        path = folder / package.main_file((".engine", ".plan", ".trt")).name
        return path, TrtSession.from_package(package, folder)


class YOLODetectionTRT(TrtSessionMixin, YOLODetectionONNX):
    """Boxes from a TensorRT engine built from an Ultralytics detection export."""

    def close(self) -> None:
        session = self._session
        if session is not None:
            session.close()
        super().close()
