"""`Pipeline.snapshot()`: typed gauges, read by the daemon's metrics and watchdog."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.support.fake_model import FakeDetector
from tests.support.fake_source import MemorySource
from tests.support.results import ListSink
from vigil.pipeline import Pipeline, PipelineOptions, PipelineSnapshot, SourceSnapshot
from vigil.sources.base import SourceState


async def test_a_snapshot_while_frames_wait_and_after_the_run():
    model = FakeDetector(infer_delay_s=0.05)
    pipeline = Pipeline(model, [MemorySource("a", 40), MemorySource("b", 40)], [ListSink()], PipelineOptions(max_batch=2))
    run = asyncio.create_task(pipeline.run())
    while len(model.batches) < 2:
        await asyncio.sleep(0.01)
    busy = pipeline.snapshot()
    assert isinstance(busy, PipelineSnapshot) and set(busy.sources) == {"a", "b"}
    assert all(isinstance(s, SourceSnapshot) and s.state is SourceState.STREAMING for s in busy.sources.values())
    assert busy.waiting > 0 and busy.waiting == sum(s.batcher_queue for s in busy.sources.values()) + sum(busy.stages.values())
    await run
    done = pipeline.snapshot()
    assert {name: s.state for name, s in done.sources.items()} == {"a": SourceState.ENDED, "b": SourceState.ENDED}
    assert done.waiting == 0 and dict(done.dropped) == {}  # files: nothing dropped
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.stages = {}  # type: ignore[misc]
