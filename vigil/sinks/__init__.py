"""Results out: sinks publish `InferenceResult`s. The kinds a configuration can name, with their
config classes, factories and facts, are declared in the catalog (`vigil.catalog.builtin`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vigil.sinks.base import CameraStatus, Sink, SinkHealth, SinkStats

if TYPE_CHECKING:
    from vigil.sinks._annotate import Annotator
    from vigil.sinks.filters import ResultFilter
    from vigil.sinks.jsonl import JsonlSink
    from vigil.sinks.mqtt import MqttSink
    from vigil.sinks.nats import NatsSink
    from vigil.sinks.snapshot import SnapshotSink
    from vigil.sinks.video import AnnotatedVideoSink
    from vigil.sinks.webhook import WebhookOptions, WebhookSink

__all__ = [
    "AnnotatedVideoSink",
    "Annotator",
    "CameraStatus",
    "JsonlSink",
    "MqttSink",
    "NatsSink",
    "ResultFilter",
    "Sink",
    "SinkHealth",
    "SinkStats",
    "SnapshotSink",
    "WebhookOptions",
    "WebhookSink",
]

# The public classes, imported on first use: aiohttp takes ~150 ms to import, PyAV ~75 ms; only a
# run with such a sink pays for it. (Not a list of kinds: those are in the catalog.)
_LAZY = {
    "Annotator": "_annotate",  # detections and overlays drawn on a frame (the console's live view too)
    "JsonlSink": "jsonl",
    "MqttSink": "mqtt",
    "NatsSink": "nats",
    "ResultFilter": "filters",
    "WebhookOptions": "webhook",
    "WebhookSink": "webhook",
    "AnnotatedVideoSink": "video",
    "SnapshotSink": "snapshot",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"vigil.sinks.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
