"""`ClassificationPrediction`: class scores for one image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ClassificationPrediction"]


@dataclass(eq=False)
class ClassificationPrediction:
    """`probs` holds one score per class (softmax probabilities for YOLO classifiers);
    `top_k` the best class ids, best first, and `top_k_confidence` their scores."""

    probs: np.ndarray
    top_k: np.ndarray
    top_k_confidence: np.ndarray
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.probs = np.asarray(self.probs, np.float32)
        self.top_k = np.asarray(self.top_k, np.int64)
        self.top_k_confidence = np.asarray(self.top_k_confidence, np.float32)
        if self.probs.ndim != 1 or self.top_k.shape != self.top_k_confidence.shape:
            raise ValueError("probs must be 1-D and top_k / top_k_confidence of equal length")

    @classmethod
    def from_probs(cls, probs: np.ndarray, k: int = 5, class_names: tuple[str, ...] = ()) -> ClassificationPrediction:
        order = np.argsort(-probs, kind="stable")[:k]
        return cls(probs, order, probs[order], class_names)

    @property
    def class_id(self) -> int:
        return int(self.top_k[0])

    @property
    def confidence(self) -> float:
        return float(self.top_k_confidence[0])

    @property
    def class_name(self) -> str:
        return self.class_names[self.class_id] if self.class_names else str(self.class_id)

    def to_supervision(self) -> Any:
        """`supervision.Classifications` with every class and its score."""
        from vigil.engine.detections import _supervision

        return _supervision().Classifications(class_id=np.arange(len(self.probs)), confidence=self.probs.copy())

    @classmethod
    def from_supervision(cls, classifications: Any, k: int = 5, class_names: tuple[str, ...] = ()) -> ClassificationPrediction:
        probs = np.zeros(int(classifications.class_id.max()) + 1, np.float32)
        probs[classifications.class_id] = classifications.confidence
        return cls.from_probs(probs, k, class_names)
