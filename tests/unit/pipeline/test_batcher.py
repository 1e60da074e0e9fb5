import asyncio
import time
from datetime import datetime, timezone

import numpy as np
import pytest

from vigil import Frame
from vigil.engine import BatchSpec
from vigil.pipeline.batcher import Batcher

IMG = np.zeros((2, 2, 3), np.uint8)


def frame(source: str, seq: int) -> Frame:
    return Frame(source, seq, seq / 30, datetime.now(timezone.utc), IMG)


def ids(batch):
    return [(item.frame.source_id, item.frame.seq) for item in batch]


async def test_full_batch_leaves_without_waiting_for_the_delay():
    b = Batcher(batch_size=3, max_delay_s=10.0, lane_capacity=8)
    b.open_lane("a")
    for i in range(3):
        await b.put(frame("a", i))
    t0 = time.monotonic()
    batch = await b.get_batch()
    assert ids(batch) == [("a", 0), ("a", 1), ("a", 2)]
    assert time.monotonic() - t0 < 1.0


async def test_short_batch_waits_up_to_max_delay_for_a_source_without_a_frame():
    b = Batcher(batch_size=4, max_delay_s=0.15, lane_capacity=8)
    b.open_lane("a")
    b.open_lane("b")
    await b.put(frame("a", 0))
    t0 = time.monotonic()
    batch = await b.get_batch()
    waited = time.monotonic() - t0
    assert ids(batch) == [("a", 0)]
    assert 0.1 <= waited < 2.0


async def test_short_batch_leaves_at_once_when_every_source_has_a_frame_in_it():
    b = Batcher(batch_size=4, max_delay_s=10.0, lane_capacity=8)
    for s in "ab":
        b.open_lane(s)
        await b.put(frame(s, 0))
    t0 = time.monotonic()
    batch = await b.get_batch()
    assert sorted(ids(batch)) == [("a", 0), ("b", 0)]
    assert time.monotonic() - t0 < 1.0


async def test_a_frame_arriving_from_the_missing_source_completes_the_wait_early():
    b = Batcher(batch_size=4, max_delay_s=5.0, lane_capacity=8)
    for s in "ab":
        b.open_lane(s)
    await b.put(frame("a", 0))
    asyncio.get_running_loop().call_later(0.1, lambda: asyncio.ensure_future(b.put(frame("b", 0))))
    t0 = time.monotonic()
    batch = await b.get_batch()
    assert sorted(ids(batch)) == [("a", 0), ("b", 0)]
    assert time.monotonic() - t0 < 2.0


async def test_preferred_size_caps_batches_below_the_limit():
    b = Batcher(batch_size=8, preferred=4, max_delay_s=10.0, lane_capacity=8)
    b.open_lane("a")
    for i in range(8):
        await b.put(frame("a", i))
    assert [len(await b.get_batch()) for _ in range(2)] == [4, 4]


async def test_sources_are_served_round_robin():
    b = Batcher(batch_size=4, max_delay_s=10.0, lane_capacity=8)
    for s in "ab":
        b.open_lane(s)
    for i in range(4):
        await b.put(frame("a", i))
    await b.put(frame("b", 0))
    batch = await b.get_batch()
    # b gets its slot first-round; a takes the rest only because b has nothing more.
    assert sorted(ids(batch)[:2]) == [("a", 0), ("b", 0)]
    assert ids(batch)[2:] == [("a", 1), ("a", 2)]


async def test_put_blocks_while_the_lane_is_full():
    b = Batcher(batch_size=2, max_delay_s=0.0, lane_capacity=2)
    b.open_lane("a")
    await b.put(frame("a", 0))
    await b.put(frame("a", 1))
    blocked = asyncio.create_task(b.put(frame("a", 2)))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    assert ids(await b.get_batch()) == [("a", 0), ("a", 1)]
    await asyncio.wait_for(blocked, 1.0)
    assert b.depth() == 1


async def test_a_live_lane_never_blocks_and_pushes_out_its_oldest_frame():
    b = Batcher(batch_size=4, max_delay_s=0.0, live_lane_capacity=2)
    drops: list[tuple[str, str, int]] = []
    b.on_drop = lambda *args: drops.append(args)
    b.open_lane("cam", live=True)
    for i in range(5):
        await asyncio.wait_for(b.put(frame("cam", i)), 0.5)
    assert ids(await b.get_batch()) == [("cam", 3), ("cam", 4)]
    assert b.dropped["cam", "lane_full"] == 3 and drops == [("cam", "lane_full", 1)] * 3


async def test_stale_live_frames_are_dropped_and_counted_file_frames_never():
    b = Batcher(batch_size=4, max_delay_s=0.0, max_staleness_s=0.1, lane_capacity=8)
    b.open_lane("cam", live=True)
    b.open_lane("file")
    old = time.monotonic() - 0.5
    await b.put(Frame("cam", 0, 0.0, datetime.now(timezone.utc), IMG, decoded_at=old))
    await b.put(frame("cam", 1))
    await b.put(Frame("file", 0, 0.0, datetime.now(timezone.utc), IMG, decoded_at=old))
    batch = await b.get_batch()
    assert sorted(ids(batch)) == [("cam", 1), ("file", 0)]
    assert b.dropped == {("cam", "stale"): 1}


async def test_a_busy_source_cannot_starve_a_slow_one():
    b = Batcher(batch_size=2, max_delay_s=0.0, lane_capacity=64)
    for s in ("fast", "slow"):
        b.open_lane(s)
    for i in range(30):
        await b.put(frame("fast", i))
    await b.put(frame("slow", 0))
    first = await b.get_batch()
    assert ("slow", 0) in ids(first)  # a slot in the first batch, however long the fast lane


async def test_closed_lanes_drain_then_end():
    b = Batcher(batch_size=4, max_delay_s=10.0, lane_capacity=8)
    b.open_lane("a")
    await b.put(frame("a", 0))
    await b.close_lane("a")
    t0 = time.monotonic()
    assert ids(await b.get_batch()) == [("a", 0)]  # no waiting: nothing more can arrive
    assert time.monotonic() - t0 < 1.0
    waiting = asyncio.create_task(b.get_batch())  # still open to new sources: waits for one
    await asyncio.sleep(0.05)
    assert not waiting.done()
    b.open_lane("late")
    await b.put(frame("late", 0))
    assert ids(await asyncio.wait_for(waiting, 1.0)) == [("late", 0)]
    await b.close_lane("late")
    await b.close()
    assert await b.get_batch() is None
    with pytest.raises(ValueError, match="closed to new sources"):
        b.open_lane("too-late")


@pytest.mark.parametrize(
    "spec, requested, expected",
    [
        (BatchSpec(), 8, 8),
        (BatchSpec(min=1, max=4), 8, 4),
        (BatchSpec.fixed(4), 1, 4),
        (BatchSpec.fixed(1), 8, 1),
    ],
)
def test_batch_limit_follows_the_package_batch_range(spec, requested, expected):
    assert spec.batch_limit(requested) == expected


@pytest.mark.parametrize(
    "spec, requested, expected",
    [
        (BatchSpec(min=1, max=16, opt=4), 8, 4),
        (BatchSpec(min=1, max=16, opt=8), 2, 2),
        (BatchSpec(min=1, max=16), 8, 8),
        (BatchSpec.fixed(4), 1, 4),
    ],
)
def test_preferred_size_is_the_package_opt_within_the_limit(spec, requested, expected):
    assert spec.preferred(requested) == expected


async def test_a_lane_opened_again_before_it_drained_keeps_the_frames_it_held():
    b = Batcher(batch_size=8, max_delay_s=0.01, lane_capacity=8)
    b.open_lane("a")
    for i in range(3):
        await b.put(frame("a", i))
    await b.close_lane("a")  # the stream is removed...
    b.open_lane("a")  # ...and added again before a batch took its frames
    await b.put(frame("a", 0))
    batch = await b.get_batch()
    assert ids(batch) == [("a", 0), ("a", 1), ("a", 2), ("a", 0)]
    assert not b.dropped
