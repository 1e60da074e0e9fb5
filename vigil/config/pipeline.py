"""The pipeline's configuration tree: the sections a pipeline needs, each in its own module; the
CLI builds it from flags, `vigil.config.loader` from YAML (`DaemonConfig` adds the daemon's).

Models are named: `models: {NAME: {path: ...}, ...}`, each camera naming the ones it runs
(`sources[].models`) and its cascades' secondaries (`sources[].cascades`). `model: {path: ...}`
is the same as `models: {default: {path: ...}}`, and `config.model` is always the first model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from typing_extensions import Self

from vigil.config._section import Section
from vigil.config.batch import BatchConfig
from vigil.config.model import DEFAULT_MODEL, MODEL_NAME, ModelConfig, ModelEntry
from vigil.config.sink_list import SinkEntries, SinkEntry, legacy_to_list, name_sinks
from vigil.config.sources import SourceConfig

__all__ = ["PipelineConfig"]

Loc = tuple[str | int, ...]
_BOTH = (
    "give model: (one model) or models: (named models), not both; move this model into models:, e.g. "
    "models: {default: {path: ...}, other: {path: ...}}"
)
_NONE = "no model: configure models: {NAME: {path: MODEL}, ...}, or model: {path: MODEL} for one model"


def _document_model(schema: dict[str, Any]) -> None:
    """`model:` is read by a validator, not a field: the schema shows it beside `models:`."""
    models = schema.get("properties", {}).get("models", {})
    entry = next(iter(models.get("patternProperties", {}).values()), models.get("additionalProperties", {}))
    model = {
        **entry,
        "description": "One model, the same as models: {default: {...}} (its settings without batch); "
        "give this or models:, not both.",
    }
    schema["properties"] = {"model": model, **schema.get("properties", {})}


class PipelineConfig(Section):
    model_config = ConfigDict(json_schema_extra=_document_model)  # merged with Section's

    models: dict[Annotated[str, StringConstraints(pattern=MODEL_NAME)], ModelEntry] = Field(
        default_factory=dict,
        description="The models, by name (letters, digits, '_', '.', '-'): each the model section (path, backend, "
        "thresholds, ...) plus its own batch overrides; cameras name the ones they run in sources[].models (default: "
        "the first) and their cascades' secondaries in sources[].cascades. model: {...} stands for "
        "models: {default: {...}}.",
    )
    sources: list[SourceConfig] = Field(min_length=1, description="Where frames come from.")
    batch: BatchConfig = Field(default_factory=BatchConfig, description="How frames are grouped for inference.")
    sinks: SinkEntries = Field(
        default_factory=list,
        description="Where results go: named instances of the registered sink kinds (vigil.config.sink_list), "
        "in publishing order.",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_model_or_many(cls, data: object) -> object:
        if not isinstance(data, dict) or "model" not in data:
            return data
        if "models" in data:
            raise _located([(("model",), _BOTH)])
        data = dict(data)
        data["models"] = {DEFAULT_MODEL: _entry(data.pop("model"))}
        return data

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
            raise ValueError(
                "no sink: configure at least one in sinks: [{kind: jsonl, path: FILE}, {kind: webhook, "
                "url: URL, spool_dir: DIR}, ...] (vigil config schema lists the kinds)"
            )
        names = self.sink_names()
        for source in self.sources:
            missing = [name for name in source.sinks or () if name not in names]
            if missing:
                raise ValueError(
                    f"source '{source.name}' sends to {', '.join(missing)}, which is not configured (sinks: {', '.join(names)})"
                )
        return self

    @model_validator(mode="after")
    def _known_models(self) -> PipelineConfig:
        if not self.models:
            raise _located([(("models",), _NONE)])
        problems = [
            (("sources", i, *loc), message)
            for i, source in enumerate(self.sources)
            for loc, message in self.source_model_problems(source)
        ]
        if problems:
            raise _located(problems)
        return self

    @property
    def model(self) -> ModelConfig:
        """The first model's settings (a `ModelEntry`): the one model of a `model:` config."""
        return self.models[self.default_model()]

    def model_entries(self) -> dict[str, ModelEntry]:
        """Every model by name, in `models:` order (`default` for a `model:` config)."""
        return dict(self.models)

    def default_model(self) -> str:
        """The name of the first model: what a camera without `models:` runs."""
        return next(iter(self.models))

    def models_of(self, source: SourceConfig) -> list[str]:
        """The models run on `source`'s whole frames, its primary first."""
        return list(source.models) if source.models else [self.default_model()]

    def primary_models(self) -> list[str]:
        """The models some camera runs on whole frames, in `models:` order."""
        used = {name for source in self.sources for name in self.models_of(source)}
        return [name for name in self.models if name in used]

    def cascade_models(self) -> list[str]:
        """The models some camera runs on crops (cascades' secondaries), in `models:` order."""
        used = {cascade.model for source in self.sources for cascade in source.cascades}
        return [name for name in self.models if name in used]

    def batch_for(self, name: str) -> BatchConfig:
        """The batching of model `name`: the top-level `batch:` with the model's overrides."""
        if name not in self.models:
            raise KeyError(f"no model named '{name}' (models: {', '.join(self.models)})")
        overrides = self.models[name].batch
        return self.batch if overrides is None else overrides.applied_to(self.batch)

    def source_model_problems(self, source: SourceConfig) -> list[tuple[Loc, str]]:
        """What is wrong with the models `source` names (its `models` and cascades) given this
        configuration's `models:`, each with its key path inside the source; empty when nothing
        is. Also for a camera added later (the API) to a running configuration."""
        known = ", ".join(self.models)
        problems: list[tuple[Loc, str]] = []
        for i, name in enumerate(source.models or ()):
            if name not in self.models:
                problems.append(
                    (("models", i), f"source '{source.name}' runs model '{name}', which is not configured (models: {known})")
                )
        primary = self.models_of(source)[0]
        for i, cascade in enumerate(source.cascades):
            where = f"source '{source.name}' cascade '{cascade.name}'"
            if cascade.model not in self.models:
                problems.append(
                    (("cascades", i, "model"), f"{where} runs model '{cascade.model}', which is not configured (models: {known})")
                )
            elif cascade.model == primary:
                problems.append(
                    (
                        ("cascades", i, "model"),
                        f"{where}: '{primary}' is this camera's primary model; "
                        "a cascade runs a secondary model on crops of the primary's detections, so a model "
                        "cannot be its own secondary: name another model of models: (e.g. a classifier)",
                    )
                )
        return problems

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """As pydantic's; `update={"model": settings}` replaces the first model's settings (what
        `config.model` reads), keeping its batch overrides unless `settings` has its own."""
        if update and "model" in update:
            update = dict(update)
            settings = update.pop("model")
            models = dict(update.get("models", self.models))
            first = next(iter(models))
            entry = settings if isinstance(settings, ModelEntry) else _entry(settings, models[first].batch)
            update["models"] = {**models, first: entry}
        return super().model_copy(update=update, deep=deep)

    def sink_names(self) -> list[str]:
        return [entry.name for entry in self.sinks if entry.name is not None]

    def sink(self, name: str) -> SinkEntry | None:
        """The `sinks:` entry named `name`, or None."""
        return next((entry for entry in self.sinks if entry.name == name), None)


def _entry(model: object, batch: object = None) -> ModelEntry:
    """A `model:` section as a `models:` entry; its errors keep their place under `model`."""
    if isinstance(model, ModelEntry):
        return model
    try:
        settings = model if isinstance(model, ModelConfig) else ModelConfig.model_validate(model)
    except ValidationError as exc:
        raise _located([(("model", *error["loc"]), error["msg"]) for error in exc.errors()]) from None
    return ModelEntry.model_validate({**settings.model_dump(), "batch": batch})


def _located(problems: Sequence[tuple[Loc, str]]) -> ValidationError:
    """A validation error of each problem at its key path (so the loader names its line)."""
    errors = [PydanticCustomError("config", "{message}", {"message": message}) for _, message in problems]
    return ValidationError.from_exception_data(
        "PipelineConfig", [{"type": error, "loc": loc, "input": None} for error, (loc, _) in zip(errors, problems)]
    )
