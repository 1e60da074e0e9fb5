"""Behaviour interfaces shared by every model of a kind, whatever its backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from vigil.engine.classification import ClassificationPrediction
from vigil.engine.detections import Detections
from vigil.errors import ModelInputError

__all__ = [
    "BatchSpec",
    "ClassificationModel",
    "InstanceSegmentationModel",
    "KeypointsModel",
    "Model",
    "ObjectDetectionModel",
    "PreparedBatch",
]


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """The batch sizes a loaded model package accepts.

    Static packages take exactly `max` images per call (`min == max`, `static=True`); short
    batches are padded by the model. Dynamic packages take `min..max` (`max=None`: no limit).
    """

    min: int = 1
    max: int | None = None
    static: bool = False
    opt: int | None = None

    @classmethod
    def fixed(cls, n: int) -> BatchSpec:
        return cls(min=n, max=n, static=True)

    def batch_limit(self, requested: int) -> int:
        """Largest batch the batcher should form when the user asks for `requested`."""
        if self.static:
            assert self.max is not None
            return self.max
        return max(1, min(requested, self.max if self.max is not None else requested))

    def accepts(self, size: int) -> bool:
        return self.min <= size and (self.max is None or size <= self.max)


@dataclass(slots=True)
class PreparedBatch:
    """Output of `pre_process`: the model input tensor plus whatever post-processing needs."""

    tensor: np.ndarray
    meta: Any


R = TypeVar("R")


class Model(ABC, Generic[R]):
    """A loaded model package: `model(images) -> list[R]`, one result per image.

    The three stages are public so a batcher can overlap them: `pre_process` a batch on worker
    threads, `forward` it on the model's executor, `post_process` the raw outputs.
    """

    model_id: str
    package_id: str
    package_dir: Path
    class_names: tuple[str, ...]
    batch: BatchSpec

    @abstractmethod
    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch: ...

    @abstractmethod
    def forward(self, batch: PreparedBatch) -> Any: ...

    @abstractmethod
    def post_process(self, raw: Any, batch: PreparedBatch) -> list[R]: ...

    def close(self) -> None:
        """Release the backend's resources (sessions, device memory)."""

    def __call__(self, images: np.ndarray | Sequence[np.ndarray]) -> list[R]:
        batch_images = _as_image_list(images)
        results: list[R] = []
        step = self.batch.max or len(batch_images) or 1
        for start in range(0, len(batch_images), step):
            chunk = batch_images[start : start + step]
            prepared = self.pre_process(chunk)
            results.extend(self.post_process(self.forward(prepared), prepared))
        return results


class ObjectDetectionModel(Model[Detections]):
    """Returns boxes: `model(images) -> list[Detections]`.

        model = AutoModel.from_pretrained("yolov8n.onnx")
        detections = model([bgr_image])[0]
    """


class InstanceSegmentationModel(ObjectDetectionModel):
    """Returns boxes with masks: `Detections.mask` is (N, H, W) bool in original-image pixels."""


class KeypointsModel(ObjectDetectionModel):
    """Returns boxes with keypoints: `Detections.keypoints` (N, K, 2) and `keypoint_confidence`."""


class ClassificationModel(Model[ClassificationPrediction]):
    """Returns class scores: `model(images) -> list[ClassificationPrediction]`."""


def _as_image_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        images = [images] if images.ndim == 3 else list(images)
    out = list(images)
    for i, img in enumerate(out):
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ModelInputError(
                f"image {i}: expected an HxWx3 uint8 BGR array, got "
                f"{getattr(img, 'shape', type(img).__name__)} {getattr(img, 'dtype', '')}".rstrip()
            )
    return out
