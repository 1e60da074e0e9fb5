"""Ultralytics YOLO pose exports: `[B, 4+nc+K*D, anchors]` with keypoints decoded in the graph."""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.engine.base import KeypointsModel, PreparedBatch
from vigil.engine.detections import Detections
from vigil.engine.models.yolo import _ultralytics_ops as ops
from vigil.engine.models.yolo._yolo_onnx_base import YOLOOnnxBase, check_boxes_head
from vigil.errors import ModelLoadError


class YOLOPoseONNX(YOLOOnnxBase, KeypointsModel):
    """Boxes with keypoints (x, y in original pixels, and each keypoint's visibility score)."""

    def _check_outputs(self, shapes: list[list[Any]]) -> None:
        shape = self.metadata.keypoint_shape
        if shape is None:
            raise ModelLoadError(f"model '{self.model_id}': a pose model needs keypoint_shape [K, 2 or 3] in model.json")
        self._kpt_count, self._kpt_dims = shape
        check_boxes_head(self, shapes, extra=self._kpt_count * self._kpt_dims)

    def post_process(self, raw: list[np.ndarray], batch: PreparedBatch) -> list[Detections]:
        names = np.asarray(self.class_names)
        nc, opts, k, d = len(names), self.options, self._kpt_count, self._kpt_dims
        out = []
        for pred, box in zip(raw[0], batch.meta):
            xyxy, conf, cls, idx = ops.select_detections(pred, nc, opts.confidence, opts.iou, opts.max_det)
            kpts = pred[4 + nc :, idx].T.reshape(-1, k, d)
            visibility = kpts[..., 2] if d == 3 else np.ones(kpts.shape[:2], np.float32)
            out.append(
                Detections(
                    ops.scale_boxes(xyxy, box),
                    conf,
                    cls,
                    data={"class_name": names[cls]},
                    keypoints=ops.scale_points(kpts[..., :2], box),
                    keypoint_confidence=visibility,
                )
            )
        return out
