"""What the daemon's event store keeps besides the events: counts over time
(`vigil.store.counts`, `counts:`) and heatmaps (`vigil.store.heatmap`, `heatmap:`).

    analytics = await open_analytics(config, state_dir)   # on the event loop: its flushing starts
    EventLog(kept, dirs, search, analytics)               # the store keeps it; StoreFeed feeds it
    analytics_of(store)                                   # for the API: None when the store keeps none

The counts are part of the event store as issue 27's store is the place the API reads what
happened; the heatmap rides along because it hears the same pipeline, through the same feed
(`StoreFeed`: events to the counts, published results to the heatmaps), and needs no stage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.pipeline.observer import PipelineObserver
from vigil.result import InferenceResult

if TYPE_CHECKING:
    from vigil.config.daemon import DaemonConfig
    from vigil.events import Event
    from vigil.store.counts import CountStore
    from vigil.store.heatmap import HeatmapView

__all__ = ["Analytics", "analytics_of", "open_analytics"]


class Analytics(PipelineObserver):
    """Counts and heatmaps, each None when its section is off."""

    def __init__(self, counts: CountStore | None = None, heatmaps: HeatmapView | None = None) -> None:
        self.counts, self.heatmaps = counts, heatmaps

    def events(self, events: Sequence[Event]) -> None:
        if self.counts is not None:
            self.counts.events(events)

    def published(self, result: InferenceResult) -> None:
        if self.heatmaps is not None:
            self.heatmaps.published(result)

    def problem(self) -> str | None:
        """Why the counts are not being written now (a full disk...), else None."""
        return None if self.counts is None else self.counts.last_error

    async def close(self) -> None:
        if self.counts is not None:
            await self.counts.stop()


def analytics_of(store: object) -> Analytics | None:
    """The counts and heatmaps `store` keeps (a store that keeps none: None)."""
    found = getattr(store, "analytics", None)
    return found if isinstance(found, Analytics) else None


async def open_analytics(config: DaemonConfig, state_dir: Path | None) -> Analytics:
    """The counts (`counts.database`, else `counts.sqlite` in `state_dir`, else in memory; opened
    off the loop, flushed every 5 s from now on: call on the event loop) and the heatmaps."""
    from vigil.sinks.files import make_dirs
    from vigil.store.counts import CountStore
    from vigil.store.heatmap import HeatmapView

    counts = None
    if config.counts.enabled:
        path = config.counts.database or (str(state_dir / "counts.sqlite") if state_dir is not None else ":memory:")
        if state_dir is not None and config.counts.database is None:
            await asyncio.to_thread(make_dirs, state_dir)
        counts = await asyncio.to_thread(CountStore, path, config.counts.retention_days)
        counts.start()
    heat = config.heatmap
    heatmaps = HeatmapView(heat.decay_s, heat.grid, heat.max_classes) if heat.enabled else None
    return Analytics(counts, heatmaps)
