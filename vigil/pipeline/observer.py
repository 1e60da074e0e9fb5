"""What a running pipeline reports as it goes, for metrics (`vigil.daemon.metrics` exports it).

The pipeline calls these hooks on the event loop; they must return at once. The base class
ignores everything, so an observer overrides only what it needs. Gauges (queue depths, source
states, source-side drop counters) are not pushed: read them from `Pipeline.snapshot()` when
they are scraped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vigil.result import InferenceResult

if TYPE_CHECKING:
    from vigil.events import Event

__all__ = ["Observers", "PipelineObserver"]


class PipelineObserver:
    def source_started(self, source_id: str, expected_frames: int | None) -> None:
        """A source started reading (again, for a source added back); `expected_frames` is how
        many frames it will give when that is known beforehand (a file read once), else None."""

    def frame_in(self, source_id: str) -> None:
        """A frame entered the batcher."""

    def frames_dropped(self, source_id: str, cause: str, count: int) -> None:
        """Frames the pipeline dropped (`stale`, `lane_full`); decode-side causes are in
        each source's `stats`."""

    def batch_done(
        self, size: int, padded_to: int, pre_ms: float, infer_ms: float, post_ms: float, model: str = "default"
    ) -> None:
        """A batch went through the model named `model`; `padded_to` is the size the model ran
        (>= size for static packages)."""

    def batch_failed(self, size: int, model: str = "default") -> None:
        """A batch failed in one of its stages; its frames have no results."""

    def result(self, result: InferenceResult) -> None:
        """A frame's result is ready, before the sinks get it; `result.timings` holds its stage times."""

    def published(self, result: InferenceResult) -> None:
        """A result as the sinks get it, after its source's stages (tracker ids, cascades' outputs,
        zone overlays), before any sink's filter; not called for a result a stage dropped."""

    def events(self, events: Sequence[Event]) -> None:
        """Events the stages made (`vigil.events.Event`, never empty), in order, before the sinks get them.
        An event's `frame` holds its image: keep the record (`to_record()`), not the event."""

    def loop_lag(self, seconds: float) -> None:
        """How late the event loop woke a timer; measured about ten times a second."""


class Observers(PipelineObserver):
    """Several observers heard as one, in the order given (the daemon's metrics and event log).

    pipeline = Pipeline(model, sources, sinks, options, Observers(metrics, event_log))
    """

    def __init__(self, *observers: PipelineObserver) -> None:
        self.observers = observers

    def source_started(self, source_id: str, expected_frames: int | None) -> None:
        for observer in self.observers:
            observer.source_started(source_id, expected_frames)

    def frame_in(self, source_id: str) -> None:
        for observer in self.observers:
            observer.frame_in(source_id)

    def frames_dropped(self, source_id: str, cause: str, count: int) -> None:
        for observer in self.observers:
            observer.frames_dropped(source_id, cause, count)

    def batch_done(
        self, size: int, padded_to: int, pre_ms: float, infer_ms: float, post_ms: float, model: str = "default"
    ) -> None:
        for observer in self.observers:
            observer.batch_done(size, padded_to, pre_ms, infer_ms, post_ms, model=model)

    def batch_failed(self, size: int, model: str = "default") -> None:
        for observer in self.observers:
            observer.batch_failed(size, model=model)

    def result(self, result: InferenceResult) -> None:
        for observer in self.observers:
            observer.result(result)

    def published(self, result: InferenceResult) -> None:
        for observer in self.observers:
            observer.published(result)

    def events(self, events: Sequence[Event]) -> None:
        for observer in self.observers:
            observer.events(events)

    def loop_lag(self, seconds: float) -> None:
        for observer in self.observers:
            observer.loop_lag(seconds)
