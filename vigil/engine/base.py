"""Behaviour interfaces shared by every model of a kind, whatever its backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import cv2
import numpy as np

from vigil.engine.classification import ClassificationPrediction
from vigil.engine.detections import Detections
from vigil.engine.text import TextDetections
from vigil.errors import ModelInputError

__all__ = [
    "BatchSpec",
    "ClassificationModel",
    "InstanceSegmentationModel",
    "KeypointsModel",
    "Model",
    "ObjectDetectionModel",
    "PreparedBatch",
    "TextRecognitionModel",
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

    def preferred(self, requested: int) -> int:
        """The batch size to aim for: the package's `opt` when it gives one within the limit."""
        limit = self.batch_limit(requested)
        return min(self.opt, limit) if self.opt and not self.static else limit

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


class TextRecognitionModel(Model[TextDetections]):
    """Reads text (OCR): `model(images) -> list[TextDetections]` (quadrilaterals, text, scores)."""


def _as_image_list(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        images = [images] if images.ndim in (2, 3) and images.dtype != object else list(images)
    return [as_bgr8(img, i) for i, img in enumerate(images)]


def as_bgr8(image: Any, index: int = 0) -> np.ndarray:
    """An HxWx3 uint8 BGR view of `image`: grayscale and BGRA are converted, 16-bit scaled to
    8-bit; empty, float and other images are refused with a clear error."""
    if not isinstance(image, np.ndarray):
        raise ModelInputError(f"image {index}: expected a numpy array (HxWx3 uint8 BGR), got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ModelInputError(f"image {index}: expected HxW, HxWx1, HxWx3 (BGR) or HxWx4 (BGRA), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ModelInputError(f"image {index}: is empty ({image.shape[0]}x{image.shape[1]} pixels)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ModelInputError(
            f"image {index}: dtype {image.dtype} is not supported; pass uint8 (or uint16) pixels, not normalised floats"
        )
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image
