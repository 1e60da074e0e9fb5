"""`Job`: one batch on its way through the runner's three tasks (prepare, infer, publish)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigil.pipeline.batcher import BatchItem
from vigil.pipeline.chain import StageChain
from vigil.pipeline.options import FrameModel
from vigil.result import InferenceResult, Timings

__all__ = ["Job"]


@dataclass(slots=True)
class Job:
    items: list[BatchItem]
    model: FrameModel  # the model when the batch formed: a replacement waits for the next one
    prepared: Any = None
    pre_ms: float = 0.0
    raw: Any = None
    infer_ms: float = 0.0
    # Chains of sources whose last frame is in this batch or an earlier one: closed once this
    # batch is published. A job without items carries only these.
    ended: list[StageChain] = field(default_factory=list)
    lane: str = "default"  # the name of the model (`lane.ModelLane`) this batch is for

    def result(self, item: BatchItem, dets: Any, post_ms: float, now: float, utc_now: datetime, live: bool) -> InferenceResult:
        """One frame's result, timed: `now` (monotonic) and `utc_now` when the batch was
        post-processed; the time since capture only for a `live` source's frames."""
        frame = item.frame
        since_capture = (utc_now - frame.capture_time).total_seconds() * 1e3 if live else None
        timings = Timings(
            queue=(item.dequeued_at - item.enqueued_at) * 1e3,
            pre_process=self.pre_ms,
            infer=self.infer_ms,
            post_process=post_ms,
            total=(now - frame.decoded_at) * 1e3,
            since_capture=since_capture,
        )
        return InferenceResult(frame, self.model.model_id, dets, timings)
