"""Results out: sinks publish `InferenceResult`s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vigil.sinks.base import Sink
from vigil.sinks.filters import ResultFilter
from vigil.sinks.jsonl import JsonlSink

if TYPE_CHECKING:
    from vigil.sinks.webhook import WebhookOptions, WebhookSink

__all__ = ["JsonlSink", "ResultFilter", "Sink", "WebhookOptions", "WebhookSink"]


def __getattr__(name: str) -> Any:
    # aiohttp takes ~150 ms to import: only a run with a webhook pays for it.
    if name in ("WebhookOptions", "WebhookSink"):
        from vigil.sinks import webhook

        return getattr(webhook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
