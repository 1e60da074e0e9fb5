"""Configuration: one validated pydantic tree, one module per section.

`PipelineConfig` (`pipeline.py`) holds `models` (`model.py`: named models, `model:` for one),
`sources` (`sources.py`: file, rtsp or webcam, each with its `stages`, `stages.py`, and its
`cascades`, `cascade.py`), `batch`
(`batch.py`) and `sinks` (`sink_list.py`: named entries of the registered kinds, whose settings
are in `sinks.py`); `DaemonConfig` (`daemon.py`) adds `api` (`api.py`),
`logging` and `shutdown_timeout_s`; `loader.py` reads it from YAML.
"""

from vigil.config.batch import BatchConfig
from vigil.config.cascade import CascadeConfig
from vigil.config.model import ModelBatchConfig, ModelConfig, ModelEntry
from vigil.config.pipeline import PipelineConfig
from vigil.config.sinks import JsonlSinkConfig, SnapshotSinkConfig, VideoSinkConfig, WebhookSinkConfig
from vigil.config.sources import (
    FileSourceConfig,
    ReconnectConfig,
    RtspSourceConfig,
    SourceConfig,
    WebcamSourceConfig,
)

__all__ = [
    "BatchConfig",
    "CascadeConfig",
    "FileSourceConfig",
    "JsonlSinkConfig",
    "ModelBatchConfig",
    "ModelConfig",
    "ModelEntry",
    "PipelineConfig",
    "ReconnectConfig",
    "RtspSourceConfig",
    "SnapshotSinkConfig",
    "SourceConfig",
    "VideoSinkConfig",
    "WebhookSinkConfig",
    "WebcamSourceConfig",
]
