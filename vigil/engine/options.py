"""Options a caller can pass when loading a model."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BackendOptions", "DetectionOptions"]


@dataclass(frozen=True, slots=True)
class DetectionOptions:
    """Thresholds and runtime knobs of a detection model; defaults are Ultralytics' predictor's.

    `image_size` overrides the export's `imgsz` for models with dynamic input size (an int for a
    square, or (height, width)).
    """

    confidence: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    image_size: int | tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be within [0, 1], got {self.confidence}")
        if not 0.0 <= self.iou <= 1.0:
            raise ValueError(f"iou must be within [0, 1], got {self.iou}")
        if self.max_det < 1:
            raise ValueError(f"max_det must be >= 1, got {self.max_det}")


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """How the chosen backend runs. `intra_op_threads` / `inter_op_threads` size onnxruntime's
    thread pools (None: its defaults, one intra-op thread per physical core);
    `execution_providers` is the onnxruntime provider order (None: CUDA when present, then CPU);
    `allow_spinning`: let onnxruntime's pool threads busy-wait between ops (its default; off
    here, see `create_session`).
    """

    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    execution_providers: tuple[str, ...] | None = None
    allow_spinning: bool = False
