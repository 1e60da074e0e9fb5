"""Ultralytics YOLO detection exports (v5u/v8/v9/11/12 layout `[B, 4+nc, anchors]`) on onnxruntime."""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.engine.base import ObjectDetectionModel, PreparedBatch
from vigil.engine.detections import Detections
from vigil.engine.models.yolo import _ultralytics_ops as ops
from vigil.engine.models.yolo._yolo_onnx_base import YOLOOnnxBase, check_boxes_head, dim


class YOLODetectionONNX(YOLOOnnxBase, ObjectDetectionModel):
    """Boxes from an Ultralytics detection export, with Ultralytics' pre- and post-processing.
    NMS-free end-to-end exports (YOLOv10 style, `[B, max_det, 6]` rows of x1 y1 x2 y2 score
    class) are read too: Ultralytics only filters them by confidence."""

    reads_end2end = True

    def _check_outputs(self, shapes: list[list[Any]]) -> None:
        if not self.end2end:
            check_boxes_head(self, shapes, extra=0)
        elif len(shapes) != 1 or len(shapes[0]) != 3 or dim(shapes[0][2]) not in (None, 6):
            raise self.output_mismatch(shapes, "1 output [batch, max_det, 6] for an end-to-end export")

    def post_process(self, raw: list[np.ndarray], batch: PreparedBatch) -> list[Detections]:
        names = np.asarray(self.class_names)
        opts = self.options
        out = []
        for pred, box in zip(raw[0], batch.meta):
            if self.end2end:
                rows = pred[pred[:, 4] > opts.confidence][: opts.max_det]
                xyxy, conf, cls = rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64)
            else:
                xyxy, conf, cls, _ = ops.select_detections(pred, len(names), opts.confidence, opts.iou, opts.max_det)
            out.append(Detections(ops.scale_boxes(xyxy, box), conf, cls, data={"class_name": names[cls]}))
        return out
