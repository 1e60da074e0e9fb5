"""Ultralytics YOLO detection exports (v5u/v8/v9/11/12 layout `[B, 4+nc, anchors]`) on onnxruntime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.onnx_runtime import UltralyticsMetadata, create_session, read_ultralytics_metadata
from vigil.engine.base import BatchSpec, ObjectDetectionModel, PreparedBatch
from vigil.engine.detections import Detections
from vigil.engine.models.yolo import _ultralytics_ops as ops
from vigil.engine.options import DetectionOptions
from vigil.errors import ModelLoadError

def _dim(value: Any) -> int | None:
    """An ONNX dimension: an int when fixed, None when symbolic."""
    return value if isinstance(value, int) and value > 0 else None


class YOLODetectionONNX(ObjectDetectionModel):
    """Boxes from an Ultralytics detection export, with Ultralytics' pre- and post-processing."""

    def __init__(self, path: Path, session: Any, meta: UltralyticsMetadata, options: DetectionOptions) -> None:
        self.model_id = path.stem
        self.class_names = meta.names
        self.options = options
        self._path = path
        self._session = session
        self._stride = meta.stride
        model_input = session.get_inputs()[0]
        self._input_name = model_input.name
        batch_dim, _, in_h, in_w = (list(model_input.shape) + [None] * 4)[:4]
        fixed_batch = _dim(batch_dim)
        self.batch = BatchSpec.fixed(fixed_batch) if fixed_batch else BatchSpec()
        self._dynamic_size = _dim(in_h) is None or _dim(in_w) is None
        self.input_size = self._input_size(meta, _dim(in_h), _dim(in_w))
        self._check_output(session.get_outputs()[0].shape)

    @classmethod
    def load(cls, path: Path, options: DetectionOptions, providers: list[str] | None = None) -> YOLODetectionONNX:
        session = create_session(path, intra_op_threads=options.intra_op_threads, providers=providers)
        meta = read_ultralytics_metadata(path, session.get_modelmeta().custom_metadata_map)
        if meta.task != "detect":
            raise ModelLoadError(
                f"model '{path}' is an Ultralytics '{meta.task}' model, not a detector; "
                "vigil runs 'detect' exports for now (yolo export of a detection model)"
            )
        if meta.end2end:
            raise ModelLoadError(
                f"model '{path}' is an NMS-free end-to-end export, which vigil does not read yet; "
                "export it with end2end=False"
            )
        return cls(path, session, meta, options)

    def _input_size(self, meta: UltralyticsMetadata, fixed_h: int | None, fixed_w: int | None) -> tuple[int, int]:
        wanted = self.options.image_size
        if isinstance(wanted, int):
            wanted = (wanted, wanted)
        if not self._dynamic_size:
            assert fixed_h is not None and fixed_w is not None
            if wanted is not None and tuple(wanted) != (fixed_h, fixed_w):
                raise ModelLoadError(
                    f"model '{self._path}' has a fixed input of {fixed_h}x{fixed_w}; image_size "
                    f"{wanted[0]}x{wanted[1]} needs a dynamic export (or drop the image_size option)"
                )
            return fixed_h, fixed_w
        size = tuple(wanted) if wanted is not None else meta.imgsz
        if size[0] % self._stride or size[1] % self._stride:
            raise ModelLoadError(f"model '{self._path}': image_size {size} must be a multiple of stride {self._stride}")
        return int(size[0]), int(size[1])

    def _check_output(self, shape: Sequence[Any]) -> None:
        channels = _dim(shape[1]) if len(shape) == 3 else -1
        expected = 4 + len(self.class_names)
        if len(shape) != 3 or (channels is not None and channels != expected):
            raise ModelLoadError(
                f"model '{self._path}': output shape {list(shape)} is not a YOLO detection head "
                f"[batch, {expected}, anchors] for {len(self.class_names)} classes"
            )

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        # Ultralytics letterboxes to the minimal stride-aligned rectangle only when the input
        # size is dynamic and every image of the batch has the same shape.
        auto = self._dynamic_size and len({img.shape for img in images}) == 1
        target_h, target_w = self.input_size
        boxes = [ops.plan_letterbox(img.shape[0], img.shape[1], target_h, target_w, auto, self._stride) for img in images]
        tensor = np.empty((len(images), 3, boxes[0].in_h, boxes[0].in_w), dtype=np.float32)
        for i, (img, box) in enumerate(zip(images, boxes)):
            ops.letterbox_into(img, box, tensor[i])
        return PreparedBatch(tensor=tensor, meta=boxes)

    def forward(self, batch: PreparedBatch) -> np.ndarray:
        tensor = batch.tensor
        n = len(tensor)
        if self.batch.static and self.batch.max is not None and n < self.batch.max:
            padded = np.zeros((self.batch.max, *tensor.shape[1:]), dtype=np.float32)
            padded[:n] = tensor
            tensor = padded
        return self._session.run(None, {self._input_name: tensor})[0][:n]

    def post_process(self, raw: np.ndarray, batch: PreparedBatch) -> list[Detections]:
        names = np.asarray(self.class_names)
        out = []
        opts = self.options
        for pred, box in zip(raw, batch.meta):
            xyxy, conf, cls, _ = ops.select_detections(pred, len(names), opts.confidence, opts.iou, opts.max_det)
            out.append(
                Detections(
                    xyxy=ops.scale_boxes(xyxy, box),
                    confidence=conf,
                    class_id=cls,
                    data={"class_name": names[cls]},
                )
            )
        return out

    def close(self) -> None:
        self._session = None
