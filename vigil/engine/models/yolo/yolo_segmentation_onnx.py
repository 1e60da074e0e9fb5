"""Ultralytics YOLO instance segmentation exports: `[B, 4+nc+32, anchors]` + prototypes `[B, 32, mh, mw]`."""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.engine.base import InstanceSegmentationModel, PreparedBatch
from vigil.engine.detections import Detections
from vigil.engine.models.yolo import _ultralytics_ops as ops
from vigil.engine.models.yolo._yolo_onnx_base import YOLOOnnxBase, check_boxes_head


class YOLOSegmentationONNX(YOLOOnnxBase, InstanceSegmentationModel):
    """Boxes and masks, as Ultralytics' segmentation predictor makes them (masks in original pixels)."""

    def _check_outputs(self, shapes: list[list[Any]]) -> None:
        self._mask_dim = shapes[1][1] if len(shapes) == 2 and len(shapes[1]) == 4 else None
        if not isinstance(self._mask_dim, int):
            raise self.output_mismatch(shapes, "2 outputs: [batch, 4 + classes + k, anchors] and prototypes [batch, k, h, w]")
        check_boxes_head(self, shapes, extra=self._mask_dim, outputs=2)

    def post_process(self, raw: list[np.ndarray], batch: PreparedBatch) -> list[Detections]:
        names = np.asarray(self.class_names)
        nc, opts = len(names), self.options
        out = []
        for pred, protos, box in zip(raw[0], raw[1], batch.meta):
            xyxy, conf, cls, idx = ops.select_detections(pred, nc, opts.confidence, opts.iou, opts.max_det)
            keep, masks = ops.segment_masks(protos, pred[4 + nc :, idx].T, xyxy, box)
            xyxy, conf, cls = xyxy[keep], conf[keep], cls[keep]
            out.append(Detections(ops.scale_boxes(xyxy, box), conf, cls, data={"class_name": names[cls]}, mask=masks))
        return out
