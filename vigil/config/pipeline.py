"""The pipeline's configuration tree: the sections a pipeline needs, each in its own module; the
CLI builds it from flags, `vigil.config.loader` from YAML (`DaemonConfig` adds the daemon's)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from vigil.config._section import Section
from vigil.config.batch import BatchConfig
from vigil.config.model import ModelConfig
from vigil.config.sink_list import SinkEntries, SinkEntry, legacy_to_list, name_sinks
from vigil.config.sources import SourceConfig

__all__ = ["PipelineConfig"]


class PipelineConfig(Section):
    model: ModelConfig = Field(description="Which model runs, with its thresholds and backend options.")
    sources: list[SourceConfig] = Field(min_length=1, description="Where frames come from.")
    batch: BatchConfig = Field(default_factory=BatchConfig, description="How frames are grouped for inference.")
    sinks: SinkEntries = Field(
        default_factory=list,
        description="Where results go: named instances of the registered sink kinds (vigil.config.sink_list), "
        "in publishing order.",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_sink_sections(cls, data: object) -> object:
        return legacy_to_list(data)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return sources

    @field_validator("sinks")
    @classmethod
    def _named_sinks(cls, sinks: SinkEntries) -> SinkEntries:
        return name_sinks(sinks)

    @model_validator(mode="after")
    def _some_sink(self) -> PipelineConfig:
        if not self.sinks:
            raise ValueError("no sink: configure at least one in sinks: [{kind: jsonl, path: FILE}, {kind: webhook, "
                             "url: URL, spool_dir: DIR}, ...] (vigil config schema lists the kinds)")
        names = self.sink_names()
        for source in self.sources:
            missing = [name for name in source.sinks or () if name not in names]
            if missing:
                raise ValueError(f"source '{source.name}' sends to {', '.join(missing)}, which is not configured "
                                 f"(sinks: {', '.join(names)})")
        return self

    def sink_names(self) -> list[str]:
        return [entry.name for entry in self.sinks if entry.name is not None]

    def sink(self, name: str) -> SinkEntry | None:
        """The `sinks:` entry named `name`, or None."""
        return next((entry for entry in self.sinks if entry.name == name), None)
