"""`Frame`: the unit that travels from a source to the engine."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

__all__ = ["Frame"]


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One decoded picture and where it came from.

    `(source_id, seq)` identifies the frame; `pts` is the presentation time in seconds on the
    stream's own clock and `capture_time` that instant in UTC. `image` is HxWx3 uint8 BGR.
    `decoded_at` is a `time.monotonic()` reading taken when the frame left the decoder; results
    measure their total latency from it. `skipped_before`: frames the source's gates (the motion
    gate) turned away right before this one, so stages can tell a gap the gate made.
    """

    source_id: str
    seq: int
    pts: float
    capture_time: datetime
    image: np.ndarray
    decoded_at: float = field(default_factory=time.monotonic)
    skipped_before: int = 0

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            shape = getattr(img, "shape", None)
            dtype = getattr(img, "dtype", type(img).__name__)
            raise ValueError(
                f"frame {self.source_id}#{self.seq}: image must be an HxWx3 uint8 BGR array, got shape {shape} dtype {dtype}"
            )
        if self.capture_time.tzinfo is None:
            raise ValueError(f"frame {self.source_id}#{self.seq}: capture_time must be timezone-aware (UTC)")

    def grey(self) -> np.ndarray:
        """The image in grey (HxW uint8), for what needs only brightness (a frame gate)."""
        import cv2  # only when asked: a Frame is made in places that never need OpenCV

        return np.asarray(cv2.cvtColor(self.image, cv2.COLOR_BGR2GRAY))

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
