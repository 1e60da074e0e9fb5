"""`Job`: one batch on its way through the runner's three tasks (prepare, infer, publish)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.pipeline.batcher import BatchItem
from vigil.pipeline.chain import StageChain
from vigil.pipeline.options import FrameModel

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
