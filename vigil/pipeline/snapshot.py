"""What `Pipeline.snapshot()` returns: the gauges of a running pipeline at one instant, read at
scrape time by the daemon's metrics and by its watchdog."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vigil.sources.base import Source, SourceState

if TYPE_CHECKING:
    from vigil.pipeline.lane import ModelLane

__all__ = ["ModelSnapshot", "PipelineSnapshot", "SourceSnapshot", "take_snapshot"]


@dataclass(frozen=True, slots=True)
class SourceSnapshot:
    """One source: its state, frames waiting in its decode hand-off (`decoded_queue`) and in its
    batcher lane (`batcher_queue`), and its decode-side counters by cause: frames never decoded
    (`skipped`, sampling) and decoded but not handed on (`dropped`)."""

    source_id: str
    state: SourceState
    decoded_queue: int
    batcher_queue: int
    skipped: Mapping[str, int]
    dropped: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ModelSnapshot:
    """One model of the pipeline by its name: what it resolved to, its batch size, the frames
    waiting in its batcher and the batches between its stages (`prepared`, `inferred`)."""

    name: str
    model_id: str
    package_id: str
    backend: str
    batch_size: int
    batcher_queue: int
    stages: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class PipelineSnapshot:
    """Every source's gauges by id, batches waiting between stages by queue name, and the
    frames the batcher dropped by (source id, cause), removed sources included.

        snap = pipeline.snapshot()
        snap.sources["cam0"].batcher_queue, snap.stages["infer"], snap.dropped[("cam0", "stale")]
    """

    sources: Mapping[str, SourceSnapshot]
    stages: Mapping[str, int]
    dropped: Mapping[tuple[str, str], int]
    models: Mapping[str, ModelSnapshot] = field(default_factory=dict)

    @property
    def waiting(self) -> int:
        """Frames in the batcher's lanes plus batches between stages: work not yet inferred or published."""
        return sum(s.batcher_queue for s in self.sources.values()) + sum(self.stages.values())


def take_snapshot(sources: Sequence[Source], models: Sequence[ModelLane]) -> PipelineSnapshot:
    """The gauges of a pipeline's `sources` and of its `models` (a source's batcher lanes summed
    over the models it runs, the queues between stages summed by name and given per model)."""
    lanes: Counter[str] = Counter()
    dropped: Counter[tuple[str, str]] = Counter()
    per_model = {}
    for lane in models:
        depths = lane.batcher.lane_depths()
        lanes.update(depths)
        dropped.update(lane.batcher.dropped)
        per_model[lane.name] = ModelSnapshot(
            lane.name,
            lane.model.model_id,
            str(getattr(lane.model, "package_id", "")),
            _backend(lane.model),
            lane.batch_size,
            sum(depths.values()),
            {name: q.qsize() for name, q in lane.queues.items()},
        )
    snapshots = {
        s.source_id: SourceSnapshot(
            source_id=s.source_id,
            state=s.state,
            decoded_queue=getattr(s, "queue_depth", 0),
            batcher_queue=lanes.get(s.source_id, 0),
            skipped=dict(s.stats.skipped),
            dropped=dict(s.stats.dropped),
        )
        for s in sources
    }
    stages: Counter[str] = Counter()
    for model in per_model.values():
        stages.update(model.stages)
    return PipelineSnapshot(sources=snapshots, stages=dict(stages), dropped=dict(dropped), models=per_model)


def _backend(model: Any) -> str:
    backend = getattr(model, "backend", None)
    return str(getattr(backend, "value", backend or ""))
