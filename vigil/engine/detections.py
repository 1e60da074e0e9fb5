"""`Detections`: parallel numpy arrays, modelled on supervision's type of the same name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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
    `class_id` int64 (N,); `tracker_id` int64 (N,) once a tracking stage ran (-1: not tracked), else
    None; `data` holds further per-detection arrays of length N (for instance
    `class_name`). Index with a boolean mask, an index array or a slice to select detections:

        faces = dets[dets.class_id == 1]
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    data: dict[str, np.ndarray] = field(default_factory=dict)
    mask: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    keypoint_confidence: np.ndarray | None = None
    tracker_id: np.ndarray | None = None

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
        if self.tracker_id is not None:
            self.tracker_id = _as_column("tracker_id", self.tracker_id, n, np.int64)
        data = {}
        for key, value in self.data.items():
            arr = np.asarray(value)
            if len(arr) != n:
                raise ValueError(f"Detections.data[{key!r}] has {len(arr)} entries, expected {n}")
            data[key] = arr
        self.data = data
        if self.mask is not None:
            mask = np.asarray(self.mask, dtype=bool)
            if mask.ndim != 3 or len(mask) != n:
                raise ValueError(f"Detections.mask must have shape ({n}, H, W), got {mask.shape}")
            self.mask = mask
        if self.keypoints is not None:
            kp = np.asarray(self.keypoints, dtype=np.float32)
            if kp.ndim != 3 or len(kp) != n or kp.shape[2] != 2:
                raise ValueError(f"Detections.keypoints must have shape ({n}, K, 2), got {kp.shape}")
            self.keypoints = kp
            conf = np.ones(kp.shape[:2], np.float32) if self.keypoint_confidence is None else self.keypoint_confidence
            conf = np.asarray(conf, dtype=np.float32)
            if conf.shape != kp.shape[:2]:
                raise ValueError(f"Detections.keypoint_confidence must have shape {kp.shape[:2]}, got {conf.shape}")
            self.keypoint_confidence = conf

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
            mask=None if self.mask is None else self.mask[index],
            keypoints=None if self.keypoints is None else self.keypoints[index],
            keypoint_confidence=None if self.keypoint_confidence is None else self.keypoint_confidence[index],
            tracker_id=None if self.tracker_id is None else self.tracker_id[index],
        )

    def __iter__(self) -> Iterator[Detections]:
        return (self[i] for i in range(len(self)))

    @property
    def class_name(self) -> np.ndarray | None:
        return self.data.get("class_name")

    def to_supervision(self) -> Any:
        """An equivalent `supervision.Detections` (needs the `supervision` extra). Masks map to
        its `mask` and `tracker_id` to its `tracker_id`; keypoints travel in `data["keypoints"]` /
        `data["keypoint_confidence"]` (see `to_supervision_keypoints()` for an `sv.KeyPoints`)."""
        sv = _supervision()
        data = {key: value.copy() for key, value in self.data.items()}
        if self.keypoints is not None:
            data["keypoints"] = self.keypoints.copy()
            data["keypoint_confidence"] = self.keypoint_confidence.copy()  # type: ignore[union-attr]
        return sv.Detections(
            xyxy=self.xyxy.copy(),
            confidence=self.confidence.copy(),
            class_id=self.class_id.copy(),
            mask=None if self.mask is None else self.mask.copy(),
            tracker_id=None if self.tracker_id is None else self.tracker_id.copy(),
            data=data,
        )

    def to_supervision_keypoints(self) -> Any:
        if self.keypoints is None:
            raise ValueError("these detections have no keypoints")
        sv = _supervision()
        conf = self.keypoint_confidence.copy()  # type: ignore[union-attr]
        try:  # supervision >= 0.29 renamed the argument
            return sv.KeyPoints(xy=self.keypoints.copy(), keypoint_confidence=conf, class_id=self.class_id.copy())
        except TypeError:
            return sv.KeyPoints(xy=self.keypoints.copy(), confidence=conf, class_id=self.class_id.copy())

    @classmethod
    def from_supervision(cls, detections: Any) -> Detections:
        n = len(detections.xyxy)
        conf = detections.confidence if detections.confidence is not None else np.ones(n, np.float32)
        cls_id = detections.class_id if detections.class_id is not None else np.full(n, -1, np.int64)
        data = dict(detections.data)
        keypoints = data.pop("keypoints", None)
        keypoint_conf = data.pop("keypoint_confidence", None)
        return cls(
            xyxy=detections.xyxy,
            confidence=conf,
            class_id=cls_id,
            data=data,
            mask=detections.mask,
            keypoints=keypoints,
            keypoint_confidence=keypoint_conf,
            tracker_id=detections.tracker_id,
        )


def _supervision() -> Any:
    try:
        import supervision
    except ImportError as exc:
        raise MissingDependencyError("supervision is not installed: pip install 'vigil-analytics[supervision]'") from exc
    return supervision
