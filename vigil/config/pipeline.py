"""The pipeline's configuration tree. The CLI builds it from flags; issue 7 adds YAML."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "BatchConfig",
    "JsonlSinkConfig",
    "ModelConfig",
    "PipelineConfig",
    "SnapshotSinkConfig",
    "SourceConfig",
    "VideoSinkConfig",
    "WebhookSinkConfig",
]


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
    allow_spinning: bool = Field(
        False,
        description="Let onnxruntime's threads busy-wait between ops: a few % faster inference when nothing else "
        "needs the cores, slower pipelines when decoding or post-processing does (measured in bench/pipeline.py).",
    )


class ReconnectConfig(_Section):
    initial_s: float = Field(0.5, gt=0, le=3600, description="First wait before reconnecting.")
    max_s: float = Field(30.0, gt=0, le=86_400, description="Longest wait between attempts.")
    multiplier: float = Field(2.0, ge=1.0, le=10.0, description="Each wait is the previous one times this.")
    jitter: float = Field(0.2, ge=0.0, le=1.0, description="Random spread of each wait, as a fraction.")
    max_attempts: int | None = Field(None, ge=1, description="Give up after this many attempts in a row (null: never).")


class SourceConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Source id used in results.")
    url: str = Field(
        min_length=1,
        description="A video file path, an rtsp:// camera URL, or v4l2:/dev/videoN for a webcam.",
    )
    max_fps: float | None = Field(None, gt=0, le=1000, description="Sample the source down to this rate.")
    realtime: bool = Field(False, description="Files: pace frames by their timestamps, like a camera.")
    loop: bool = Field(False, description="Files: start again at the end.")
    decode_threads: int = Field(0, ge=0, le=64, description="FFmpeg decoder threads for this source (0: FFmpeg picks).")
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP: carry the stream over TCP or UDP.")
    password_file: str | None = Field(
        None, min_length=1, description="RTSP: file holding the camera's password, put into the URL's user part."
    )
    open_timeout_s: float = Field(10.0, gt=0, le=600, description="RTSP: longest wait to connect.")
    stall_timeout_s: float = Field(10.0, gt=0, le=600, description="RTSP: reconnect after this long without a frame.")
    reconnect: ReconnectConfig = Field(default_factory=lambda: ReconnectConfig(), description="RTSP: retries.")
    sinks: list[Literal["jsonl", "webhook", "video", "snapshot"]] | None = Field(
        None, min_length=1, description="The configured sinks this source's results go to (null: all of them)."
    )


class BatchConfig(_Section):
    max_batch: int = Field(4, ge=1, le=256, description="Most frames per inference call.")
    max_delay_ms: float = Field(10.0, ge=0.0, le=10_000.0, description="Longest wait for a batch to fill.")
    max_staleness_ms: float | None = Field(
        1000.0, gt=0.0, le=600_000.0, description="Drop a live frame older than this when its batch forms (null: never)."
    )
    worker_threads: int = Field(2, ge=1, le=64, description="Threads for pre- and post-processing.")
    opencv_threads: int | None = Field(
        1,
        ge=0,
        le=256,
        description="OpenCV's own thread pool inside pre-processing (null: OpenCV's default, one per core); 1 leaves "
        "the cores to inference, which measured 2-3% faster on 2 cores.",
    )
    drain_timeout_s: float = Field(
        10.0, ge=0.0, le=3600.0, description="On stop, how long frames already read may take to finish."
    )


class JsonlSinkConfig(_Section):
    path: str = Field(
        min_length=1, description="File the JSON lines are appended to; with per_source, a path holding {source}."
    )
    per_source: bool = Field(False, description="One file per source: {source} in the path is the source's name.")
    rotate_mb: float | None = Field(None, gt=0, le=1_000_000, description="Start a new file once this many MiB are written.")
    rotate_minutes: float | None = Field(None, gt=0, le=527_040, description="Start a new file after this many minutes.")
    gzip: bool = Field(False, description="Compress rotated files to .jsonl.gz.")
    flush: Literal["os", "fsync", "buffered"] = Field(
        "os",
        description="After each batch of lines: hand them to the OS (survives a crash of vigil), also fsync them "
        "(survives a power cut), or keep them buffered until the buffer fills (fastest).",
    )


class WebhookSinkConfig(_Section):
    url: str = Field(pattern=r"^https?://\S+$", description="URL the results are POSTed to (docs/OUTPUT.md).")
    secret_file: str | None = Field(
        None, min_length=1, description="File holding the HMAC-SHA256 signing secret (surrounding whitespace stripped)."
    )
    spool_dir: str = Field(min_length=1, description="Directory where results wait on disk until delivered.")


class VideoSinkConfig(_Section):
    directory: str = Field(min_length=1, description="Directory the annotated MP4 segments go to, a folder per source.")
    segment_minutes: float = Field(
        5.0, gt=0.0, le=1440.0, description="Capture time covered by one segment file before the next one starts."
    )


class SnapshotSinkConfig(_Section):
    directory: str = Field(min_length=1, description="Directory the JPEG snapshots and their JSON go to, a folder per source.")
    interval_s: float = Field(
        10.0, ge=0.0, le=86_400.0, description="At most one snapshot per source in this many seconds of capture time."
    )


class PipelineConfig(_Section):
    model: ModelConfig = Field(description="Which model runs, with its thresholds and backend options.")
    sources: list[SourceConfig] = Field(min_length=1, description="Where frames come from.")
    batch: BatchConfig = Field(default_factory=BatchConfig, description="How frames are grouped for inference.")
    jsonl: JsonlSinkConfig | None = Field(None, description="Write results to a JSON Lines file.")
    webhook: WebhookSinkConfig | None = Field(None, description="POST results to a URL through a disk spool.")
    video: VideoSinkConfig | None = Field(None, description="Record every frame, detections drawn, as MP4 segments.")
    snapshot: SnapshotSinkConfig | None = Field(None, description="Save a JPEG and its record when something is detected.")

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return sources

    @model_validator(mode="after")
    def _some_sink(self) -> PipelineConfig:
        if (self.jsonl, self.webhook, self.video, self.snapshot) == (None, None, None, None):
            raise ValueError("no sink: configure at least one of jsonl (a file), webhook (a URL), video or snapshot (a directory)")
        for source in self.sources:
            missing = [name for name in source.sinks or () if getattr(self, name) is None]
            if missing:
                raise ValueError(f"source '{source.name}' sends to {', '.join(missing)}, which is not configured")
        return self
