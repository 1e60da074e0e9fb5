"""The pipeline's configuration tree. The CLI builds it from flags; issue 7 adds YAML."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["BatchConfig", "JsonlSinkConfig", "ModelConfig", "PipelineConfig", "SourceConfig"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelConfig(_Section):
    path: str = Field(description="Path of an Ultralytics YOLO detection ONNX export.")
    confidence: float = Field(0.25, ge=0.0, le=1.0, description="Minimum confidence of a kept detection.")
    iou: float = Field(0.7, ge=0.0, le=1.0, description="IoU above which NMS suppresses a box of the same class.")
    max_det: int = Field(300, ge=1, le=10_000, description="Most detections kept per frame.")
    image_size: int | None = Field(
        None, ge=32, le=4096, description="Inference size for dynamic-size exports (default: the export's imgsz)."
    )
    intra_op_threads: int | None = Field(
        None, ge=1, le=256, description="onnxruntime intra-op threads (default: one per physical core)."
    )


class SourceConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Source id used in results.")
    url: str = Field(
        min_length=1,
        description="A video file path, an rtsp:// camera URL, or v4l2:/dev/videoN for a webcam.",
    )
    max_fps: float | None = Field(None, gt=0, le=1000, description="Sample the source down to this rate.")
    realtime: bool = Field(False, description="Files: pace frames by their timestamps, like a camera.")
    loop: bool = Field(False, description="Files: start again at the end.")


class BatchConfig(_Section):
    max_batch: int = Field(4, ge=1, le=256, description="Most frames per inference call.")
    max_delay_ms: float = Field(10.0, ge=0.0, le=10_000.0, description="Longest wait for a batch to fill.")
    worker_threads: int = Field(2, ge=1, le=64, description="Threads for pre- and post-processing.")


class JsonlSinkConfig(_Section):
    path: str = Field(min_length=1, description="File the JSON lines are appended to.")


class PipelineConfig(_Section):
    model: ModelConfig
    sources: list[SourceConfig] = Field(min_length=1, description="Where frames come from.")
    batch: BatchConfig = Field(default_factory=BatchConfig, description="How frames are grouped for inference.")
    jsonl: JsonlSinkConfig

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return sources
