"""Ultralytics YOLO on a TensorRT engine (detection, segmentation, pose, classification): each
ONNX runner's pre/post-processing over a `TrtSession` (tensorrt is imported only when such a
package is loaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vigil.engine._private.package_format import ModelMetadata, PackageMetadata
from vigil.engine.models.yolo.yolo_classification_onnx import YOLOClassificationONNX
from vigil.engine.models.yolo.yolo_detection_onnx import YOLODetectionONNX
from vigil.engine.models.yolo.yolo_pose_onnx import YOLOPoseONNX
from vigil.engine.models.yolo.yolo_segmentation_onnx import YOLOSegmentationONNX
from vigil.engine.options import BackendOptions


class TrtSessionMixin:
    """Opens the package's engine instead of an onnxruntime session, and frees its device
    buffers on close."""

    _session: Any

    @classmethod
    def _open_session(
        cls, package: PackageMetadata, folder: Path, backend: BackendOptions, model: ModelMetadata
    ) -> tuple[Path, Any]:
        from vigil.engine._private.trt_runtime import TrtSession

        path = folder / package.main_file((".engine", ".plan", ".trt")).name
        return path, TrtSession.from_package(package, folder)

    def _close_engine(self) -> None:
        if self._session is not None:
            self._session.close()


class YOLODetectionTRT(TrtSessionMixin, YOLODetectionONNX):
    """Boxes from a TensorRT engine built from an Ultralytics detection export."""

    def close(self) -> None:
        self._close_engine()
        super().close()


class YOLOSegmentationTRT(TrtSessionMixin, YOLOSegmentationONNX):
    """Boxes and masks from a TensorRT engine built from an Ultralytics segmentation export."""

    def close(self) -> None:
        self._close_engine()
        super().close()


class YOLOPoseTRT(TrtSessionMixin, YOLOPoseONNX):
    """Boxes and keypoints from a TensorRT engine built from an Ultralytics pose export."""

    def close(self) -> None:
        self._close_engine()
        super().close()


class YOLOClassificationTRT(TrtSessionMixin, YOLOClassificationONNX):
    """Class scores from a TensorRT engine built from an Ultralytics classification export."""

    def close(self) -> None:
        self._close_engine()
        super().close()
