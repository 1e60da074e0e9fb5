"""Behaviour interfaces beyond detection: embeddings, zero-shot detection, depth, prompting.

Slim by design: each says what a model does, not how a family does it, so a CLIP and a SigLIP,
an OWLv2 and a Grounding DINO share one. Images are HxWx3 uint8 BGR like everywhere in vigil.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine.base import BatchSpec, Model, ObjectDetectionModel, PreparedBatch, _as_image_list
from vigil.engine.detections import Detections
from vigil.errors import ModelInputError

__all__ = [
    "DepthModel",
    "EmbeddingModel",
    "PromptedDetector",
    "VisionLanguageModel",
    "ZeroShotDetectionModel",
]


class EmbeddingModel(Model[np.ndarray]):
    """Images and texts into one vector space (CLIP-style): `model(images)` gives one (D,)
    vector per image; rows are L2-normalised, so a dot product is the cosine similarity.

        model = AutoModel.from_pretrained("models/clip")
        scores = model.embed_images([bgr_image]) @ model.embed_texts(["a red car"]).T
    """

    dimension: int

    def embed_images(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float32, one L2-normalised row per image."""
        rows = self(images)
        return np.stack(rows) if rows else np.empty((0, self.dimension), np.float32)

    @abstractmethod
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, D) float32, one L2-normalised row per text."""


class DepthModel(Model[np.ndarray]):
    """A depth map per image: `model.depth(images)` -> HxW float32 arrays at each image's size
    (relative depth or metres, as the family predicts)."""

    def depth(self, images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
        return self(images)


class ZeroShotDetectionModel(ABC):
    """Detection from text prompts (open vocabulary): class names are the prompts.

        model = AutoModel.from_pretrained("models/owlv2")
        dets = model.detect([bgr_image], ["a person", "a red car"], threshold=0.1)[0]
        dets.data["class_name"]   # the prompt each box answers

    The stages are public so `PromptedDetector` can batch it like any detector.
    """

    model_id: str
    package_id: str
    package_dir: Path
    batch: BatchSpec

    def detect(
        self, images: np.ndarray | Sequence[np.ndarray], prompts: Sequence[str], threshold: float = 0.1
    ) -> list[Detections]:
        prompts = check_prompts(prompts)
        batch_images = _as_image_list(images)
        step = self.batch.max or len(batch_images) or 1
        results: list[Detections] = []
        for start in range(0, len(batch_images), step):
            prepared = self.pre_process(batch_images[start : start + step], prompts)
            results.extend(self.post_process(self.forward(prepared), prepared, threshold))
        return results

    @abstractmethod
    def pre_process(self, images: Sequence[np.ndarray], prompts: tuple[str, ...]) -> PreparedBatch: ...

    @abstractmethod
    def forward(self, batch: PreparedBatch) -> Any: ...

    @abstractmethod
    def post_process(self, raw: Any, batch: PreparedBatch, threshold: float) -> list[Detections]: ...

    def close(self) -> None:
        """Release the backend's resources."""


class VisionLanguageModel(ABC):
    """Answers a text prompt about an image: `model.prompt(bgr_image, "what is on the road?")`."""

    model_id: str
    package_id: str
    package_dir: Path
    batch: BatchSpec

    @abstractmethod
    def prompt(self, image: np.ndarray, text: str) -> str: ...

    def close(self) -> None:
        """Release the backend's resources."""


class PromptedDetector(ObjectDetectionModel):
    """A zero-shot detector with a fixed prompt list, so the pipeline batches it like any
    `ObjectDetectionModel`: class ids index `class_names`, which are the prompts.

        detector = AutoModel.from_pretrained("models/owlv2", prompts=["a person", "a car"], confidence=0.1)
    """

    def __init__(
        self, model: ZeroShotDetectionModel, prompts: Sequence[str], threshold: float, *, _users: list[int] | None = None
    ) -> None:
        self.zero_shot = model
        self.model_id = model.model_id
        self.package_id = model.package_id
        self.package_dir = model.package_dir
        self.batch = model.batch
        self.class_names = check_prompts(prompts)
        self.threshold = threshold
        self._users = _users if _users is not None else [0]  # the detectors sharing `zero_shot`
        self._users[0] += 1
        self._closed = False

    def with_prompts(self, prompts: Sequence[str], threshold: float) -> PromptedDetector:
        """Another detector on the same loaded weights with its own prompts (cameras asking for
        different things of one model); the weights are released when the last of them closes."""
        return PromptedDetector(self.zero_shot, prompts, threshold, _users=self._users)

    def pre_process(self, images: Sequence[np.ndarray]) -> PreparedBatch:
        return self.zero_shot.pre_process(images, self.class_names)

    def forward(self, batch: PreparedBatch) -> Any:
        return self.zero_shot.forward(batch)

    def post_process(self, raw: Any, batch: PreparedBatch) -> list[Detections]:
        return self.zero_shot.post_process(raw, batch, self.threshold)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._users[0] -= 1
        if self._users[0] == 0:
            self.zero_shot.close()


def check_prompts(prompts: Sequence[str]) -> tuple[str, ...]:
    """Prompts as a tuple of non-empty strings, refused clearly otherwise."""
    if isinstance(prompts, str):
        raise ModelInputError(f"prompts must be a list of strings, got the single string {prompts!r}; wrap it in a list")
    values = tuple(prompts)
    if not values or not all(isinstance(p, str) and p.strip() for p in values):
        raise ModelInputError(f"prompts must be a non-empty list of non-empty strings, got {list(values)!r}")
    return values
