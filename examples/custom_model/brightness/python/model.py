"""A custom model package: vigil imports this file only when untrusted code is allowed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from vigil.engine import BackendOptions, BatchSpec, ClassificationModel, ClassificationPrediction, DetectionOptions
from vigil.engine.developer_tools import ModelMetadata, PackageMetadata, PreparedBatch, create_onnx_session


class BrightnessClassifier(ClassificationModel):
    """Says whether an image is dark or bright, from its mean grey level."""

    def __init__(self, model: ModelMetadata, package: PackageMetadata, folder: Path, session: object) -> None:
        self.model_id, self.package_id, self.package_dir = model.model_id, package.package_id, folder
        self.class_names = model.class_names
        self.batch = BatchSpec()
        self.size = model.input.size
        self._session = session

    @classmethod
    def from_package(
        cls, model: ModelMetadata, package: PackageMetadata, folder: Path, options: DetectionOptions, backend: BackendOptions
    ) -> BrightnessClassifier:
        return cls(model, package, folder, create_onnx_session(folder / "brightness.onnx", backend))

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        h, w = self.size
        resized = [cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA) for img in images]
        tensor = np.stack(resized).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        return PreparedBatch(tensor=tensor, meta=None)

    def forward(self, batch: PreparedBatch) -> np.ndarray:
        return self._session.run(None, {"images": batch.tensor})[0]  # type: ignore[attr-defined]

    def post_process(self, raw: np.ndarray, batch: PreparedBatch) -> list[ClassificationPrediction]:
        return [ClassificationPrediction.from_probs(p, 2, self.class_names) for p in raw]
