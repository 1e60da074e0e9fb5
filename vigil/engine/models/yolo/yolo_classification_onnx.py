"""Ultralytics YOLO classification exports: `[B, nc]` probabilities (softmax inside the graph)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from vigil.engine.base import ClassificationModel, PreparedBatch
from vigil.engine.classification import ClassificationPrediction
from vigil.engine.models.yolo._yolo_onnx_base import YOLOOnnxBase, dim


def center_crop_tensor(image: np.ndarray, size: int) -> np.ndarray:
    """torchvision `Resize(size)` (short side, PIL bilinear) + `CenterCrop(size)`, as Ultralytics'
    classify transforms; returns RGB float32 /255 CHW."""
    h, w = image.shape[:2]
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    crop = resized[top : top + size, left : left + size, ::-1]  # BGR -> RGB
    return np.ascontiguousarray(crop.transpose(2, 0, 1), dtype=np.float32) / np.float32(255)


class YOLOClassificationONNX(YOLOOnnxBase, ClassificationModel):
    resize_mode = "center-crop"

    def _check_outputs(self, shapes: list[list[Any]]) -> None:
        if len(shapes) != 1 or len(shapes[0]) != 2 or dim(shapes[0][1]) not in (None, len(self.class_names)):
            raise self.output_mismatch(shapes, f"1 output [batch, {len(self.class_names)} classes]")

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        size = self.input_size[0]
        return PreparedBatch(tensor=np.stack([center_crop_tensor(img, size) for img in images]), meta=None)

    def post_process(self, raw: list[np.ndarray], batch: PreparedBatch) -> list[ClassificationPrediction]:
        return [ClassificationPrediction.from_probs(p, 5, self.class_names) for p in raw[0]]
