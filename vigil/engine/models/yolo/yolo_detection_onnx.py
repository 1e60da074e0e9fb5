"""Ultralytics YOLO detection exports (v5u/v8/v9/11/12 layout `[B, 4+nc, anchors]`) on onnxruntime."""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.engine.base import ObjectDetectionModel, PreparedBatch
from vigil.engine.detections import Detections
from vigil.engine.models.yolo import _ultralytics_ops as ops
from vigil.engine.models.yolo._yolo_onnx_base import YOLOOnnxBase, check_boxes_head


class YOLODetectionONNX(YOLOOnnxBase, ObjectDetectionModel):
    """Boxes from an Ultralytics detection export, with Ultralytics' pre- and post-processing."""

    def _check_outputs(self, shapes: list[list[Any]]) -> None:
        check_boxes_head(self, shapes, extra=0)

    def post_process(self, raw: list[np.ndarray], batch: PreparedBatch) -> list[Detections]:
        names = np.asarray(self.class_names)
        opts = self.options
        out = []
        for pred, box in zip(raw[0], batch.meta):
            xyxy, conf, cls, _ = ops.select_detections(pred, len(names), opts.confidence, opts.iou, opts.max_det)
            out.append(Detections(ops.scale_boxes(xyxy, box), conf, cls, data={"class_name": names[cls]}))
        return out
