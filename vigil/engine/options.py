"""Options a caller can pass when loading a model."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BackendOptions", "DetectionOptions"]


@dataclass(frozen=True, slots=True)
class DetectionOptions:
    """Thresholds and runtime knobs of a detection model; defaults are Ultralytics' predictor's.

    `image_size` overrides the export's `imgsz` for models with dynamic input size (an int for a
    square, or (height, width)).

    `prompts`: a zero-shot (open-vocabulary) detector's fixed text prompts, which become its
    class names; given, `AutoModel` returns it as an `ObjectDetectionModel` the pipeline batches.
    """

    confidence: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    image_size: int | tuple[int, int] | None = None
    prompts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be within [0, 1], got {self.confidence}")
        if not 0.0 <= self.iou <= 1.0:
            raise ValueError(f"iou must be within [0, 1], got {self.iou}")
        if self.max_det < 1:
            raise ValueError(f"max_det must be >= 1, got {self.max_det}")
        if self.prompts is not None:
            if (
                isinstance(self.prompts, str)
                or not self.prompts
                or not all(isinstance(p, str) and p.strip() for p in self.prompts)
            ):
                raise ValueError(f"prompts must be a non-empty list of non-empty strings, got {self.prompts!r}")
            object.__setattr__(self, "prompts", tuple(self.prompts))


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """How the chosen backend runs. `intra_op_threads` / `inter_op_threads` size onnxruntime's
    thread pools (None: its defaults, one intra-op thread per physical core);
    `execution_providers` is the onnxruntime provider order (None: CUDA when present, then CPU);
    `allow_spinning`: let onnxruntime's pool threads busy-wait between ops (its default; off
    here, see `create_session`). `openvino_device`: where an `openvino` package runs (AUTO,
    CPU, GPU, NPU; `model.openvino.device`).
    """

    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    execution_providers: tuple[str, ...] | None = None
    allow_spinning: bool = False
    openvino_device: str = "CPU"
