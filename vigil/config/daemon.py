"""The whole configuration file (`vigil run CONFIG`): the pipeline's sections plus the daemon's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic_core import PydanticCustomError

from vigil.config._section import Section
from vigil.config.analytics import CountsConfig, HeatmapConfig
from vigil.config.api import ApiConfig
from vigil.config.fleet import FleetConfig
from vigil.config.pipeline import PipelineConfig
from vigil.config.search import SearchConfig
from vigil.config.sources import SourceConfig

__all__ = ["DaemonConfig", "LoggingConfig"]


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Least severe level logged.")
    format: Literal["auto", "text", "json"] = Field(
        "auto", description="text on a terminal and JSON lines otherwise (auto), or always one of them."
    )


class DaemonConfig(PipelineConfig):
    """model, sources, batch and sinks (as `PipelineConfig`), plus api, logging and shutdown."""

    api: ApiConfig = Field(default_factory=ApiConfig, description="The management API.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Log level and format.")
    search: SearchConfig | None = Field(
        None, description="Make events searchable by text and likeness with an embedding model (null: off)."
    )
    shutdown_timeout_s: float = Field(
        30.0, gt=0.0, le=3600.0, description="On SIGTERM/SIGINT, how long the drain may take before in-flight work is cancelled."
    )
    fleet: FleetConfig | None = Field(None, description="Share the cameras of a NATS bucket with other boxes (vigil/fleet).")
    counts: CountsConfig = Field(default_factory=CountsConfig, description="Line and zone counts per minute, for reports.")
    heatmap: HeatmapConfig = Field(default_factory=HeatmapConfig, description="Where each camera's objects were.")
    sources: list[SourceConfig] = Field(
        default_factory=list, description="Where frames come from (at least one, unless fleet: brings the cameras)."
    )

    @model_validator(mode="wrap")
    @classmethod
    def _cameras_somewhere(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Without a fleet the YAML names at least one source (as PipelineConfig requires), an
        error reported beside the others."""
        if not isinstance(data, dict) or data.get("fleet") is not None or data.get("sources"):
            return handler(data)
        ctx = {"field_type": "List", "min_length": 1, "actual_length": 0}
        own: Any = {"type": "too_short", "loc": ("sources",), "input": [], "ctx": ctx}
        if "sources" not in data:
            own = {"type": "missing", "loc": ("sources",), "input": data}
        others: list[Any] = []
        try:
            handler(data)
        except ValidationError as exc:
            others = [
                {"type": PydanticCustomError(e["type"], "{message}", {"message": e["msg"]}), "loc": e["loc"], "input": None}
                for e in exc.errors()
            ]
        raise ValidationError.from_exception_data(cls.__name__, [own, *others])
