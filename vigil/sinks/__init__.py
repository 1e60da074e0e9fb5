"""Results out: sinks publish `InferenceResult`s."""

from vigil.sinks.base import Sink
from vigil.sinks.jsonl import JsonlSink

__all__ = ["JsonlSink", "Sink"]
