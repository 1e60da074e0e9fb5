"""`TextDetections`: lines of text found in one image, with where they are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["TextDetections"]


@dataclass(eq=False)
class TextDetections:
    """`quads` (N, 4, 2) float32: each line's corners clockwise from top-left, in original
    pixels; `text` (N,) str; `confidence` (N,) float32 recognition scores. Lines come in reading
    order (top to bottom, then left to right)."""

    quads: np.ndarray
    text: np.ndarray
    confidence: np.ndarray
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.quads = np.asarray(self.quads, np.float32).reshape(-1, 4, 2)
        n = len(self.quads)
        self.text = np.asarray(self.text, dtype=str).reshape(n)
        self.confidence = np.asarray(self.confidence, np.float32).reshape(n)
        self.data = {k: np.asarray(v) for k, v in self.data.items()}

    @classmethod
    def empty(cls) -> TextDetections:
        return cls(np.zeros((0, 4, 2), np.float32), np.array([], dtype=str), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.quads)

    def __getitem__(self, index: Any) -> TextDetections:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return TextDetections(
            self.quads[index], self.text[index], self.confidence[index], {k: v[index] for k, v in self.data.items()}
        )

    @property
    def xyxy(self) -> np.ndarray:
        """Axis-aligned boxes around the quadrilaterals."""
        if len(self) == 0:
            return np.zeros((0, 4), np.float32)
        return np.concatenate([self.quads.min(axis=1), self.quads.max(axis=1)], axis=1)

    def to_supervision(self) -> Any:
        """`supervision.Detections`: boxes around the lines, class 0, `data["text"]` and `data["quad"]`."""
        from vigil.engine.detections import _supervision

        data = {**{k: v.copy() for k, v in self.data.items()}, "text": self.text.copy(), "quad": self.quads.copy()}
        return _supervision().Detections(
            xyxy=self.xyxy, confidence=self.confidence.copy(), class_id=np.zeros(len(self), np.int64), data=data
        )

    @classmethod
    def from_supervision(cls, detections: Any) -> TextDetections:
        data = dict(detections.data)
        text, quads = data.pop("text"), data.pop("quad", None)
        if quads is None:
            x1, y1, x2, y2 = np.asarray(detections.xyxy, np.float32).T
            quads = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x2, y2], 1), np.stack([x1, y2], 1)], 1)
        conf = detections.confidence if detections.confidence is not None else np.ones(len(text), np.float32)
        return cls(quads, text, conf, data)
