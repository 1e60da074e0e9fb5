"""The batcher: frames from every source of a pipeline, grouped into batches for one model.

Each source has a lane of bounded capacity; `put` waits while its lane is full, which is how
backpressure reaches a file's decode thread. A batch leaves when it reaches its size, when the
oldest waiting frame has waited `max_delay_s`, or when no more frames can arrive (every open
lane is full, or every source has ended). Lanes are served round robin, one frame per source
per turn, so a source gets a second slot only when the others have nothing waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from vigil.frame import Frame

__all__ = ["BatchItem", "Batcher"]


@dataclass(slots=True)
class BatchItem:
    frame: Frame
    enqueued_at: float  # time.monotonic()
    dequeued_at: float = 0.0


@dataclass(slots=True)
class _Lane:
    capacity: int
    items: deque[BatchItem] = field(default_factory=deque)
    closed: bool = False


class Batcher:
    def __init__(self, batch_size: int, max_delay_s: float, lane_capacity: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.max_delay_s = max_delay_s
        self.lane_capacity = lane_capacity or max(2, batch_size)
        self._lanes: dict[str, _Lane] = {}
        self._turn = 0  # round-robin start position
        self._cond = asyncio.Condition()

    def open_lane(self, source_id: str) -> None:
        if source_id in self._lanes:
            raise ValueError(f"source '{source_id}' already has a lane in the batcher")
        self._lanes[source_id] = _Lane(self.lane_capacity)

    async def close_lane(self, source_id: str) -> None:
        """No more frames will come from this source; frames already queued are still batched."""
        async with self._cond:
            self._lanes[source_id].closed = True
            self._cond.notify_all()

    async def put(self, frame: Frame) -> None:
        lane = self._lanes[frame.source_id]
        async with self._cond:
            await self._cond.wait_for(lambda: len(lane.items) < lane.capacity)
            lane.items.append(BatchItem(frame, time.monotonic()))
            self._cond.notify_all()

    def depth(self) -> int:
        return sum(len(lane.items) for lane in self._lanes.values())

    async def get_batch(self) -> list[BatchItem] | None:
        """The next batch, or None once every lane is closed and empty."""
        async with self._cond:
            while True:
                pending = self.depth()
                if pending >= self.batch_size:
                    break
                if pending == 0:
                    if all(lane.closed for lane in self._lanes.values()):
                        return None
                    await self._cond.wait()
                    continue
                if not self._more_can_arrive():
                    break
                oldest = min(lane.items[0].enqueued_at for lane in self._lanes.values() if lane.items)
                remaining = oldest + self.max_delay_s - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._cond.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
            batch = self._take()
            self._cond.notify_all()
            return batch

    def _more_can_arrive(self) -> bool:
        return any(not lane.closed and len(lane.items) < lane.capacity for lane in self._lanes.values())

    def _take(self) -> list[BatchItem]:
        lanes = list(self._lanes.values())
        order = lanes[self._turn % len(lanes) :] + lanes[: self._turn % len(lanes)]
        self._turn += 1
        batch: list[BatchItem] = []
        now = time.monotonic()
        while len(batch) < self.batch_size:
            took = False
            for lane in order:
                if lane.items and len(batch) < self.batch_size:
                    item = lane.items.popleft()
                    item.dequeued_at = now
                    batch.append(item)
                    took = True
            if not took:
                break
        return batch
