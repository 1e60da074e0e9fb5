"""Configuration: one validated pydantic tree, one module per section.

`PipelineConfig` (`pipeline.py`) holds `model` (`model.py`), `sources` (`sources.py`), `batch`
(`batch.py`) and the sinks (`sinks.py`); `DaemonConfig` (`daemon.py`) adds `api` (`api.py`),
`logging` and `shutdown_timeout_s`; `loader.py` reads it from YAML.
"""

from vigil.config.batch import BatchConfig
from vigil.config.model import ModelConfig
from vigil.config.pipeline import PipelineConfig
from vigil.config.sinks import JsonlSinkConfig, SnapshotSinkConfig, VideoSinkConfig, WebhookSinkConfig
from vigil.config.sources import ReconnectConfig, SourceConfig

__all__ = [
    "BatchConfig",
    "JsonlSinkConfig",
    "ModelConfig",
    "PipelineConfig",
    "ReconnectConfig",
    "SnapshotSinkConfig",
    "SourceConfig",
    "VideoSinkConfig",
    "WebhookSinkConfig",
]
