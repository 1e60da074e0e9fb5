"""Results out: sinks publish `InferenceResult`s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vigil.sinks.base import Sink, SinkHealth
from vigil.sinks.filters import ResultFilter
from vigil.sinks.jsonl import JsonlSink

if TYPE_CHECKING:
    from vigil.sinks.snapshot import SnapshotSink
    from vigil.sinks.video import AnnotatedVideoSink
    from vigil.sinks.webhook import WebhookOptions, WebhookSink

__all__ = ["AnnotatedVideoSink", "JsonlSink", "ResultFilter", "Sink", "SinkHealth", "SnapshotSink", "WebhookOptions", "WebhookSink"]

# Imported on first use: aiohttp takes ~150 ms to import, PyAV ~75 ms; only a run with such a
# sink pays for it.
_LAZY = {
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
