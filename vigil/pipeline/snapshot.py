"""What `Pipeline.snapshot()` returns: the gauges of a running pipeline at one instant, read at
scrape time by the daemon's metrics and by its watchdog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vigil.sources.base import Source, SourceState

if TYPE_CHECKING:
    from vigil.pipeline.batcher import Batcher

__all__ = ["PipelineSnapshot", "SourceSnapshot", "take_snapshot"]


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
class PipelineSnapshot:
    """Every source's gauges by id, batches waiting between stages by queue name, and the
    frames the batcher dropped by (source id, cause), removed sources included.

        snap = pipeline.snapshot()
        snap.sources["cam0"].batcher_queue, snap.stages["infer"], snap.dropped[("cam0", "stale")]
    """

    sources: Mapping[str, SourceSnapshot]
    stages: Mapping[str, int]
    dropped: Mapping[tuple[str, str], int]

    @property
    def waiting(self) -> int:
        """Frames in the batcher's lanes plus batches between stages: work not yet inferred or published."""
        return sum(s.batcher_queue for s in self.sources.values()) + sum(self.stages.values())


def take_snapshot(sources: Sequence[Source], batcher: Batcher, queues: Mapping[str, Any]) -> PipelineSnapshot:
    """The gauges of a pipeline's `sources`, `batcher` lanes and the queues between its stages."""
    lanes = batcher.lane_depths()
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
    stages = {name: q.qsize() for name, q in queues.items()}
    return PipelineSnapshot(sources=snapshots, stages=stages, dropped=dict(batcher.dropped))
