"""`InferenceResult`: what the engine hands to sinks for one frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vigil.engine import ClassificationPrediction, Detections, TextDetections
from vigil.frame import Frame

__all__ = ["InferenceResult", "Overlay", "Predictions", "Timings"]

# What one frame yields: objects, text lines (OCR), or class scores for the whole frame.
Predictions = Detections | TextDetections | ClassificationPrediction


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds spent by one frame in each stage.

    `queue`: from entering the batcher to leaving it in a batch; `pre_process`, `infer` and
    `post_process`: the batch's stage times (shared by every frame of the batch); `total`: from
    decode to the result being ready; `since_capture`: from the frame's `capture_time` (UTC,
    the camera's clock when it has one) to the result being ready, for live sources only (a
    file's frames are decoded ahead of their capture times).
    """

    queue: float
    pre_process: float
    infer: float
    post_process: float
    total: float
    since_capture: float | None = None


@dataclass(frozen=True, slots=True)
class Overlay:
    """A shape a stage wants drawn on the frame (a zone's polygon, a line), in the frame's pixels;
    `text` is drawn beside its name (a zone's object count, a line's in/out counts)."""

    name: str
    kind: Literal["zone", "line"]
    points: tuple[tuple[float, float], ...]  # a zone's corners in order; a line's start and end
    text: str | None = None


@dataclass(frozen=True, slots=True)
class InferenceResult:
    """Detections for one frame, with the frame's identity, the model that made them and timings.

    The frame (image included) travels along so sinks that draw or save pictures can use it;
    sinks that only write records read `frame.source_id`, `frame.seq`, `frame.pts` and
    `frame.capture_time`. `overlays` are shapes stages add for the sinks that draw (the zones
    and lines of the source); records never carry them.
    """

    frame: Frame
    model_id: str
    detections: Predictions
    timings: Timings
    overlays: tuple[Overlay, ...] = ()
