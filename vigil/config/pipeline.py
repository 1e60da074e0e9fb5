"""The pipeline's configuration tree: the sections a pipeline needs, each in its own module; the
CLI builds it from flags, `vigil.config.loader` from YAML (`DaemonConfig` adds the daemon's)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from vigil.config._section import Section
from vigil.config.batch import BatchConfig
from vigil.config.model import ModelConfig
from vigil.config.sinks import JsonlSinkConfig, SnapshotSinkConfig, VideoSinkConfig, WebhookSinkConfig
from vigil.config.sources import SourceConfig

__all__ = ["PipelineConfig"]


class PipelineConfig(Section):
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
