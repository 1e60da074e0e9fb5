"""The batcher: frames from every source of a pipeline, grouped into batches for one model.

Sizes come from the model package (`BatchSpec`): a batch holds at most `batch_size` frames
(the package's maximum, or its static N, which the model pads short batches up to) and the
batcher aims for `preferred` (the package's `opt` when it gives one).

A batch leaves as soon as one of these holds:
- it has `preferred` frames;
- every source that can still send a frame has one in it (waiting could only add second
  frames of the same sources);
- its oldest frame has waited `max_delay_s`;
- no more frames can arrive (every open lane is full, or every source has ended).

Fairness: lanes are served round robin, one frame per source per turn, starting one lane
further on each batch, so a source gets a second slot only when the others have nothing.

Each source has a lane; lanes open and close while the batcher runs (sources added and removed),
and `get_batch` returns None once `close()` was called and every lane is closed and empty. A file's lane is bounded and `put` waits while it is full: that is the
backpressure that slows its decode thread, and none of its frames is ever dropped. A live
source's lane never makes it wait: a full lane pushes out its oldest frame (cause
`lane_full`), and a live frame older than `max_staleness_s` when a batch is formed is dropped
(cause `stale`). Drops are counted in `dropped` and reported to `on_drop`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.frame import Frame

__all__ = ["BatchItem", "Batcher"]

DropListener = Callable[[str, str, int], None]  # (source id, cause, frames)


@dataclass(slots=True)
class BatchItem:
    frame: Frame
    enqueued_at: float  # time.monotonic()
    dequeued_at: float = 0.0


@dataclass(slots=True)
class _Lane:
    source_id: str
    capacity: int
    live: bool
    items: deque[BatchItem] = field(default_factory=deque)
    closed: bool = False


class Batcher:
    def __init__(
        self,
        batch_size: int,
        max_delay_s: float,
        *,
        preferred: int | None = None,
        max_staleness_s: float | None = None,
        lane_capacity: int | None = None,
        live_lane_capacity: int = 2,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_delay_s < 0:
            raise ValueError(f"max_delay must be >= 0, got {max_delay_s * 1e3:g} ms")
        if max_staleness_s is not None and max_staleness_s <= 0:
            raise ValueError(f"max_staleness must be > 0, got {max_staleness_s * 1e3:g} ms")
        self.batch_size = batch_size
        self.preferred = max(1, min(preferred or batch_size, batch_size))
        self.max_delay_s = max_delay_s
        self.max_staleness_s = max_staleness_s
        self.lane_capacity = lane_capacity or max(2, batch_size)
        self.live_lane_capacity = max(1, live_lane_capacity)
        self.dropped: Counter[tuple[str, str]] = Counter()
        self.on_drop: DropListener | None = None
        self._lanes: dict[str, _Lane] = {}
        self._ended: list[str] = []  # lanes removed since the last take_ended()
        self._accepting = True  # lanes may still open; `close()` ends that
        self._turn = 0  # round-robin start position
        self._cond = asyncio.Condition()

    def resize(self, batch_size: int, preferred: int, max_delay_s: float, max_staleness_s: float | None) -> None:
        """New sizes and limits (a different model), from the next batch on."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.preferred = max(1, min(preferred, batch_size))
        self.max_delay_s, self.max_staleness_s = max_delay_s, max_staleness_s
        self.lane_capacity = max(self.lane_capacity, batch_size)

    def open_lane(self, source_id: str, *, live: bool = False) -> None:
        if not self._accepting:
            raise ValueError(f"source '{source_id}': the batcher is closed to new sources")
        old = self._lanes.get(source_id)
        if old is not None and not old.closed:
            raise ValueError(f"source '{source_id}' already has a lane in the batcher")
        capacity = self.live_lane_capacity if live else self.lane_capacity
        lane = self._lanes[source_id] = _Lane(source_id, capacity, live)
        if old is not None:  # a source added again before its earlier frames were batched: they go first
            lane.items = old.items

    async def close_lane(self, source_id: str) -> None:
        """No more frames will come from this source; frames already queued are still batched."""
        async with self._cond:
            self._lanes[source_id].closed = True
            self._cond.notify_all()

    async def close(self) -> None:
        """No new lanes will open: once every lane is closed and empty, `get_batch` returns None."""
        async with self._cond:
            self._accepting = False
            self._cond.notify_all()

    async def put(self, frame: Frame) -> None:
        lane = self._lanes[frame.source_id]
        async with self._cond:
            if lane.live:
                if len(lane.items) >= lane.capacity:
                    lane.items.popleft()
                    self._drop(lane, "lane_full")
            else:
                await self._cond.wait_for(lambda: len(lane.items) < lane.capacity)
            lane.items.append(BatchItem(frame, time.monotonic()))
            self._cond.notify_all()

    def depth(self) -> int:
        return sum(len(lane.items) for lane in self._lanes.values())

    def lane_depths(self) -> dict[str, int]:
        return {source_id: len(lane.items) for source_id, lane in self._lanes.items()}

    async def get_batch(self) -> list[BatchItem] | None:
        """The next batch, or None once every lane is closed and empty. An empty batch means no
        frames but lanes that ended (`take_ended()`), so their end is known without waiting
        for the next frame of another source."""
        async with self._cond:
            while True:
                now = time.monotonic()  # one instant: staleness is judged when the batch is taken
                self._drop_stale(now)
                pending = self.depth()
                if pending == 0:
                    gone = self._remove_ended()
                    if not self._accepting and not self._lanes:
                        return None
                    if gone:
                        return []  # no frames, but lanes ended: the caller reads `take_ended()`
                    await self._cond.wait()
                    continue
                if pending >= self.preferred or self._every_source_in() or not self._more_can_arrive():
                    break
                oldest = min(lane.items[0].enqueued_at for lane in self._lanes.values() if lane.items)
                remaining = oldest + self.max_delay_s - now
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._cond.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
            batch = self._take(now)
            self._remove_ended()
            self._cond.notify_all()
            return batch

    def take_ended(self) -> list[str]:
        """The sources whose lanes closed and emptied since the last call: every frame they gave
        is in a batch already returned (or was dropped). The runner closes their stage chains
        once those batches are published."""
        ended, self._ended = self._ended, []
        return ended

    def _remove_ended(self) -> bool:
        gone = [s for s, lane in self._lanes.items() if lane.closed and not lane.items]
        for source_id in gone:
            del self._lanes[source_id]  # a source removed (or ended) for good
        self._ended.extend(gone)
        return bool(gone)

    def _every_source_in(self) -> bool:
        """Every lane that can still send a frame already has one waiting."""
        return all(lane.items for lane in self._lanes.values() if not lane.closed)

    def _more_can_arrive(self) -> bool:
        return any(not lane.closed and len(lane.items) < lane.capacity for lane in self._lanes.values())

    def _drop_stale(self, now: float) -> None:
        if self.max_staleness_s is None:
            return
        limit = now - self.max_staleness_s
        for lane in self._lanes.values():
            if not lane.live:
                continue
            while lane.items and lane.items[0].frame.decoded_at < limit:
                lane.items.popleft()
                self._drop(lane, "stale")

    def _drop(self, lane: _Lane, cause: str) -> None:
        self.dropped[lane.source_id, cause] += 1
        if self.on_drop is not None:
            self.on_drop(lane.source_id, cause, 1)

    def _take(self, now: float) -> list[BatchItem]:
        lanes = list(self._lanes.values())
        start = self._turn % len(lanes)
        order = lanes[start:] + lanes[:start]
        self._turn += 1
        batch: list[BatchItem] = []
        while len(batch) < self.preferred:
            took = False
            for lane in order:
                if lane.items and len(batch) < self.preferred:
                    item = lane.items.popleft()
                    item.dequeued_at = now
                    batch.append(item)
                    took = True
            if not took:
                break
        return batch
