"""Configuration: one validated pydantic tree describing a pipeline."""

from vigil.config.pipeline import (
    BatchConfig,
    JsonlSinkConfig,
    ModelConfig,
    PipelineConfig,
    SnapshotSinkConfig,
    SourceConfig,
    VideoSinkConfig,
    WebhookSinkConfig,
)

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
