"""ONNX exports of transformers' DETR-family detectors (`vigil models export DIR --to onnx`).

The graph is the transformers model as exported (input `pixel_values` [batch, 3, H, W],
outputs `logits` [batch, queries, classes] and `pred_boxes` [batch, queries, 4] normalised
cxcywh); everything around it is vigil's own numpy (`_detr_ops`), matching the family's
processor and `post_process_object_detection` with `confidence` as the threshold. Boxes are
clipped to the image (as the hf package does) and the `max_det` best kept; there is no NMS.

- RT-DETR, RT-DETRv2 and D-FINE: every image is resized to the one size the graph was exported
  at; scores are a sigmoid and the best `queries` (query, class) pairs are read.
- DETR and Conditional DETR: the graph takes any height and width, since their processors keep
  the aspect ratio (scores: DETR's softmax; Conditional DETR's sigmoid and its best 100 pairs).
  Images are not padded to each other (that would change their boxes): a batch runs one forward
  per distinct resized shape, so frames of one camera still run together.

The session comes from the YOLO base, so the same classes run `openvino` packages (and any
session-shaped runner) unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.package_format import InputSpec, ModelMetadata, PackageMetadata
from vigil.engine.base import ObjectDetectionModel, PreparedBatch
from vigil.engine.detections import Detections
from vigil.engine.enums import ColorFormat
from vigil.engine.models.detr import _detr_ops as ops
from vigil.engine.models.yolo._yolo_onnx_base import YOLOOnnxBase, dim
from vigil.engine.options import DetectionOptions
from vigil.errors import ModelLoadError

__all__ = ["DetrDetectionONNX"]


class DetrDetectionONNX(YOLOOnnxBase, ObjectDetectionModel):
    """Detections from an exported DETR, Conditional DETR, RT-DETR, RT-DETRv2 or D-FINE graph."""

    resize_mode = "stretch"

    def __init__(
        self, model: ModelMetadata, package: PackageMetadata, session: Any, options: DetectionOptions, path: Path
    ) -> None:
        self.recipe = ops.Recipe.from_parameters(model.parameters, f"model '{model.model_id}'")
        norm = model.input.normalization
        self._scale = norm.scale
        self._mean = np.asarray(norm.mean, dtype=np.float64)
        self._std = np.asarray(norm.std, dtype=np.float64)
        super().__init__(model, package, session, options, path)

    @classmethod
    def _check_input_spec(cls, model_id: str, spec: InputSpec) -> None:
        if spec.color != ColorFormat.RGB or any(s <= 0 for s in spec.normalization.std):
            raise ModelLoadError(
                f"model '{model_id}': a DETR-family export takes RGB with positive std; model.json asks for "
                f"{spec.model_dump(mode='json')}; export it again with `vigil models export`"
            )

    def _input_size(self, size: tuple[int, int], fixed_h: int | None, fixed_w: int | None) -> tuple[int, int]:
        recipe = self.recipe
        if self.options.image_size is not None:
            raise ModelLoadError(
                f"model '{self._path}': the image size of a DETR-family export is set when it is exported "
                "(`vigil models export --image-size`); drop the image_size option"
            )
        if recipe.size is None:
            if fixed_h is not None or fixed_w is not None:
                raise ModelLoadError(
                    f"model '{self._path}': DETR keeps each image's aspect ratio, but the graph takes a fixed "
                    f"{fixed_h}x{fixed_w} input; export it again with `vigil models export`"
                )
            assert recipe.shortest_edge is not None
            return recipe.shortest_edge, recipe.longest_edge or recipe.shortest_edge
        if (fixed_h, fixed_w) not in ((None, None), recipe.size):
            raise ModelLoadError(
                f"model '{self._path}': the graph takes {fixed_h}x{fixed_w} images but model.json's parameters resize "
                f"to {recipe.size[0]}x{recipe.size[1]}; export it again with `vigil models export`"
            )
        return recipe.size

    def _check_outputs(self, shapes: list[list[Any]]) -> None:
        extra = 1 if self.recipe.scores == "softmax" else 0  # DETR's "no object" class
        classes = len(self.class_names) + extra
        if (
            len(shapes) != 2
            or len(shapes[0]) != 3
            or len(shapes[1]) != 3
            or dim(shapes[0][2]) not in (None, classes)
            or dim(shapes[1][2]) not in (None, 4)
        ):
            raise self.output_mismatch(
                shapes, f"2 outputs, logits [batch, queries, {classes}] and pred_boxes [batch, queries, 4]"
            )

    def output_mismatch(self, shapes: list[list[Any]], expected: str) -> ModelLoadError:
        return ModelLoadError(f"model '{self._path}': outputs {shapes} are not a DETR-family detector's; expected {expected}")

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        """Images grouped by resized shape (one group for a fixed size): `meta` is (the images'
        (height, width), [(indices, tensor)])."""
        targets = [self.recipe.target_size(img.shape[0], img.shape[1]) for img in images]
        groups: dict[tuple[int, int], list[int]] = {}
        for index, target in enumerate(targets):
            groups.setdefault(target, []).append(index)
        stacked = []
        for target, indices in groups.items():
            tensor = np.empty((len(indices), 3, *target), dtype=np.float32)
            for row, index in enumerate(indices):
                tensor[row] = ops.prepare(images[index], target, self.recipe.resample, self._scale, self._mean, self._std)
            stacked.append((indices, tensor))
        sizes = [(img.shape[0], img.shape[1]) for img in images]
        return PreparedBatch(tensor=stacked[0][1], meta=(sizes, stacked))

    def forward(self, batch: PreparedBatch) -> list[tuple[list[int], list[np.ndarray]]]:  # type: ignore[override]
        run = super().forward  # one session run per shape, in chunks of the package's batch maximum
        return [(indices, run(PreparedBatch(tensor, None))) for indices, tensor in batch.meta[1]]

    def post_process(self, raw: list[tuple[list[int], list[np.ndarray]]], batch: PreparedBatch) -> list[Detections]:
        sizes = batch.meta[0]
        names = np.asarray(self.class_names)
        top_k = self.recipe.top_k

        def read(logits: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            if self.recipe.scores == "sigmoid-top-k":
                return ops.sigmoid_top_k(logits, threshold, top_k)
            return ops.softmax_scores(logits, threshold)

        out: list[Detections] = [Detections.empty()] * len(sizes)
        for indices, (logits, boxes) in raw:
            for row, index in enumerate(indices):
                query, cls, score = read(logits[row], self.options.confidence)
                query, cls, score = query[: self.options.max_det], cls[: self.options.max_det], score[: self.options.max_det]
                xyxy = ops.to_pixels(boxes[row][query], *sizes[index])
                out[index] = Detections(xyxy, score, cls, data={"class_name": names[cls]})
        return out
