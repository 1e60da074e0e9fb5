"""`PipelineOptions`, a pipeline's runtime settings, and `FrameModel`, the models it runs."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.engine import ClassificationModel, ObjectDetectionModel, TextRecognitionModel

__all__ = ["FrameModel", "PipelineOptions"]

# The models a pipeline runs: one result per frame (objects, text lines, or the frame's class).
FrameModel = ObjectDetectionModel | TextRecognitionModel | ClassificationModel


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """`max_batch`: the most frames per inference call (capped or fixed by the model package,
    which may also prefer a smaller `opt` size); `max_delay_ms`: how long the oldest frame may
    wait for a batch to fill; `max_staleness_ms`: a live frame older than this when its batch
    forms is dropped (None: never); `worker_threads`: threads for pre- and post-processing;
    `drain_timeout_s`: after a stop request, how long in-flight frames may take to finish;
    `keep_running`: run until `request_stop()` even when no source is left, taking sources
    added with `add_source` (the daemon); otherwise the run ends when every source has ended."""

    max_batch: int = 4
    max_delay_ms: float = 10.0
    max_staleness_ms: float | None = 1000.0
    worker_threads: int = 2
    drain_timeout_s: float = 10.0
    keep_running: bool = False
