"""Any transformers object detector (`AutoModelForObjectDetection`: DETR, Conditional and
Deformable DETR, YOLOS, RT-DETR, RT-DETRv2, D-FINE, ...) as an `ObjectDetectionModel`.

The processor prepares each image, the model runs, and the processor's own
`post_process_object_detection` turns the outputs into boxes at each image's own size, with
`confidence` as its threshold; the class names are the config's `id2label`. Boxes are then
clipped to the image (a DETR box may reach past it) and the `max_det` highest scores kept;
there is no NMS (these models have none: one query, one object).

Images are batched by the shape the processor gives them: DETR-style processors keep the aspect
ratio, and padding one image to another's shape would change its boxes (a frame's detections
would depend on which other camera's frame shared its batch). Frames of one camera, and every
frame for processors that resize to one size (RT-DETR, D-FINE), run in one forward.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from vigil.engine._private.hf_runtime import detector_class_names, rgb_images
from vigil.engine.base import ObjectDetectionModel, PreparedBatch
from vigil.engine.detections import Detections
from vigil.engine.models.hf._hf_base import HFModelBase

_INPUTS = ("pixel_values", "pixel_mask")


class ObjectDetectorHF(HFModelBase, ObjectDetectionModel):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        labels = {int(key): str(value) for key, value in (self.net.config.id2label or {}).items()}
        self.class_names = tuple(detector_class_names({"id2label": labels}))
        if self.device.type == "cpu" and self.net.dtype != self.torch.float32:
            # A half or bfloat16 save: CPUs run float32 (faster on most, and some ops have no half kernel)
            self.net = self.net.float()
        accepted = inspect.signature(self.net.forward).parameters
        self._inputs = tuple(name for name in _INPUTS if name in accepted)  # YOLOS takes no pixel_mask

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        prepared = [self.processor(images=[image], return_tensors="pt") for image in rgb_images(images)]
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, inputs in enumerate(prepared):
            groups.setdefault(tuple(inputs["pixel_values"].shape), []).append(index)
        stacked = [
            (indices, {name: self.torch.cat([prepared[i][name] for i in indices]) for name in self._given(prepared[indices[0]])})
            for indices in groups.values()
        ]
        return PreparedBatch(stacked, [image.shape[:2] for image in images])  # type: ignore[arg-type]

    def _given(self, inputs: Any) -> list[str]:
        return [name for name in self._inputs if name in inputs]

    def forward(self, batch: PreparedBatch) -> Any:
        with self.torch.inference_mode():
            return [(indices, self.net(**self._inputs_of(inputs))) for indices, inputs in batch.tensor]

    def _inputs_of(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """On the device, the pixels in the model's dtype (a half-precision model on a GPU)."""
        moved = self._to_device(inputs)
        moved["pixel_values"] = moved["pixel_values"].to(self.net.dtype)
        return moved

    def post_process(self, raw: Any, batch: PreparedBatch) -> list[Detections]:
        sizes = batch.meta
        out: list[Detections] = [Detections.empty()] * len(sizes)
        with self.torch.inference_mode():
            for indices, outputs in raw:
                results = self.processor.post_process_object_detection(
                    outputs, threshold=self.options.confidence, target_sizes=[tuple(sizes[i]) for i in indices]
                )
                for i, result in zip(indices, results):
                    out[i] = self._detections(result, sizes[i])
        return out

    def _detections(self, result: dict[str, Any], size: tuple[int, int]) -> Detections:
        height, width = size
        boxes = result["boxes"].float().cpu().numpy().reshape(-1, 4)
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        scores = result["scores"].float().cpu().numpy().astype(np.float32)
        labels = result["labels"].cpu().numpy().astype(np.int64)
        if len(scores) > self.options.max_det:
            keep = np.sort(np.argsort(-scores, kind="stable")[: self.options.max_det])
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        names = [self.class_names[i] if 0 <= i < len(self.class_names) else str(i) for i in labels]
        return Detections(xyxy=boxes, confidence=scores, class_id=labels, data={"class_name": np.array(names, dtype=str)})
