"""`Detections`: parallel numpy arrays, modelled on supervision's type of the same name."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import Any

import numpy as np

from vigil.errors import MissingDependencyError

__all__ = ["Detections"]


def _as_column(name: str, value: Any, n: int, dtype: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(f"Detections.{name} must have shape ({n},), got {arr.shape}")
    return arr


@dataclass(eq=False)
class Detections:
    """Boxes found in one image.

    `xyxy` is float32 (N, 4) in pixels of the original image; `confidence` float32 (N,);
    `class_id` int64 (N,); `data` holds further per-detection arrays of length N (for instance
    `class_name`). Index with a boolean mask, an index array or a slice to select detections:

        faces = dets[dets.class_id == 1]
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            if xyxy.size == 0:
                xyxy = xyxy.reshape(0, 4)
            else:
                raise ValueError(f"Detections.xyxy must have shape (N, 4), got {xyxy.shape}")
        n = len(xyxy)
        self.xyxy = xyxy
        self.confidence = _as_column("confidence", self.confidence, n, np.float32)
        self.class_id = _as_column("class_id", self.class_id, n, np.int64)
        data = {}
        for key, value in self.data.items():
            arr = np.asarray(value)
            if len(arr) != n:
                raise ValueError(f"Detections.data[{key!r}] has {len(arr)} entries, expected {n}")
            data[key] = arr
        self.data = data

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.empty((0, 4), np.float32),
            confidence=np.empty(0, np.float32),
            class_id=np.empty(0, np.int64),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            data={key: value[index] for key, value in self.data.items()},
        )

    def __iter__(self) -> Iterator[Detections]:
        return (self[i] for i in range(len(self)))

    @property
    def class_name(self) -> np.ndarray | None:
        return self.data.get("class_name")

    def to_supervision(self) -> Any:
        """Return an equivalent `supervision.Detections` (needs the `supervision` extra)."""
        try:
            import supervision as sv
        except ImportError as exc:
            raise MissingDependencyError(
                "Detections.to_supervision() needs supervision: pip install 'vigil[supervision]'"
            ) from exc
        return sv.Detections(
            xyxy=self.xyxy.copy(),
            confidence=self.confidence.copy(),
            class_id=self.class_id.copy(),
            data={key: value.copy() for key, value in self.data.items()},
        )

    @classmethod
    def from_supervision(cls, detections: Any) -> Detections:
        n = len(detections.xyxy)
        conf = detections.confidence if detections.confidence is not None else np.ones(n, np.float32)
        cls_id = detections.class_id if detections.class_id is not None else np.full(n, -1, np.int64)
        return cls(xyxy=detections.xyxy, confidence=conf, class_id=cls_id, data=dict(detections.data))
