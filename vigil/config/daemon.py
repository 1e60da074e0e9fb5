"""The whole configuration file (`vigil run CONFIG`): the pipeline's sections plus the daemon's."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vigil.config._section import Section
from vigil.config.api import ApiConfig
from vigil.config.pipeline import PipelineConfig
from vigil.config.search import SearchConfig

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
