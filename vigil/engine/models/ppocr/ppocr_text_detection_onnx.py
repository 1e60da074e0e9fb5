"""PP-OCR's text detector alone, as an object detector: one box of class "text" per text line.

It loads from the same package as the full OCR model (only `det.onnx` is opened), so a text
detector can be the primary of an OCR cascade:

    detector = AutoModel.from_pretrained("models/ppocr-v4", task="detect")
    lines = detector([bgr_image])[0]   # Detections: xyxy, confidence, data["quad"]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigil.engine._private.package_format import ModelMetadata, PackageMetadata
from vigil.engine.base import ObjectDetectionModel, PreparedBatch
from vigil.engine.detections import Detections
from vigil.engine.models.ppocr import _detection as det
from vigil.engine.models.ppocr._ppocr_onnx_base import PPOCROnnxBase, open_sessions
from vigil.engine.options import BackendOptions, DetectionOptions

_CLASS_NAME = "text"


class PPOCRTextDetectionONNX(PPOCROnnxBase, ObjectDetectionModel):
    """`model(images) -> list[Detections]`: the text lines PP-OCR's DBNet finds, exactly the
    quads the full `PPOCRONNX` model reads (same resizing, post-process and reading order).

    Each detection's `xyxy` is the axis-aligned box around its line's quad, `confidence` the
    detector's box score (the mean text probability inside the box, the value compared with
    `det_box_thresh`), `class_id` 0 ("text"), and `data["quad"]` the (4, 2) corners clockwise
    from top-left, all in the caller's pixels. The thresholds are PP-OCR's own (model.json
    `parameters`), not the YOLO-style `confidence` option.
    """

    def __init__(self, model: ModelMetadata, package: PackageMetadata, folder: Path, sessions: dict[str, object]) -> None:
        super().__init__(model, package, folder, sessions)
        self.class_names = (_CLASS_NAME,)

    @classmethod
    def from_package(
        cls,
        model: ModelMetadata,
        package: PackageMetadata,
        folder: Path,
        options: DetectionOptions,
        backend: BackendOptions,
    ) -> PPOCRTextDetectionONNX:
        return cls(model, package, folder, open_sessions(package, folder, backend, ("det",)))

    def forward(self, batch: PreparedBatch) -> list[tuple[list[np.ndarray], list[float]]]:
        return [self._detect_lines(tensor, plan) for tensor, plan in zip(batch.tensor, batch.meta)]

    def post_process(self, raw: list[tuple[list[np.ndarray], list[float]]], batch: PreparedBatch) -> list[Detections]:
        results = []
        for (quads, scores), plan in zip(raw, batch.meta):
            if not quads:
                results.append(_no_text())
                continue
            corners = det.to_original(np.array(quads), plan)
            xyxy = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
            n = len(corners)
            results.append(
                Detections(
                    xyxy,
                    np.array(scores, np.float32),
                    np.zeros(n, np.int64),
                    data={"class_name": np.full(n, _CLASS_NAME), "quad": corners},
                )
            )
        return results


def _no_text() -> Detections:
    # Same keys as a non-empty result, so concatenating or indexing results never loses a column.
    return Detections(
        np.empty((0, 4), np.float32),
        np.empty(0, np.float32),
        np.empty(0, np.int64),
        data={"class_name": np.empty(0, dtype=str), "quad": np.empty((0, 4, 2), np.float32)},
    )
