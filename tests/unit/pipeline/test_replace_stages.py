"""`Pipeline.replace_stages`: a running source gets new stages (the console's zone editor) from
its next batch on, without stopping; the old chain finishes the batch it is in, then closes, and
its closing records reach the sinks; every result goes through exactly one of the two chains."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.support.fake_model import FakeDetector
from tests.support.fake_source import MemorySource
from vigil.errors import PipelineError
from vigil.events import Event
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.result import InferenceResult
from vigil.sinks import Sink
from vigil.stages import Stage


class Seen(Stage):
    """Records the frames it saw and, when closed, that it was (closing records are what a
    tracker's object_end are)."""

    def __init__(self, name: str, log: list[str], gate: threading.Event | None = None) -> None:
        self.name, self.log, self.gate = name, log, gate

    def process(self, result: InferenceResult) -> InferenceResult:
        if self.gate is not None:
            self.gate.wait(5)  # holds the batch in flight while the test replaces the stages
        self.log.append(f"{self.name}:{result.frame.seq}")
        return result

    def close(self) -> tuple[object, ...]:
        self.log.append(f"{self.name}:closed")
        return ()


class Collect(Sink):
    name = "collect"

    def __init__(self) -> None:
        self.seqs: list[int] = []

    async def publish(self, result: InferenceResult) -> None:
        self.seqs.append(result.frame.seq)

    async def publish_event(self, event: Event) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def test_new_stages_take_over_at_the_next_batch_and_the_old_close_after_their_batch():
    log: list[str] = []
    gate = threading.Event()
    sink = Collect()
    source = MemorySource("cam", frames=None, interval_s=0.01, live=False)
    pipeline = Pipeline(
        FakeDetector(),
        [source],
        [sink],
        PipelineOptions(max_batch=1, keep_running=True),
        stages={"cam": [Seen("old", log, gate)]},
    )
    run = asyncio.create_task(pipeline.run())
    await asyncio.wait_for(pipeline.running.wait(), 5)
    await asyncio.sleep(0.2)  # a batch is held in the old chain by the gate
    replacing = asyncio.create_task(pipeline.replace_stages("cam", [Seen("new", log)]))
    await asyncio.sleep(0.2)
    assert not replacing.done()  # waits for the batch in the old chain
    gate.set()
    await asyncio.wait_for(replacing, 5)
    while sum(e.startswith("new:") for e in log) < 5:
        await asyncio.sleep(0.02)
    pipeline.request_stop()
    await asyncio.wait_for(run, 10)

    closed = log.index("old:closed")
    assert all(e.startswith("old:") for e in log[:closed])  # the old chain ran, then closed once
    assert log.count("old:closed") == 1 and not any(e.startswith("old:") for e in log[closed + 1 :])
    seen = [int(e.split(":")[1]) for e in log if not e.endswith("closed") and e.split(":")[1].isdigit()]
    assert seen == sorted(seen) and len(seen) == len(set(seen))  # each frame through one chain, in order
    n = min(len(seen), len(sink.seqs))
    assert n >= 5 and sink.seqs[:n] == seen[:n]  # and on to the sinks in that order


async def test_replacing_the_stages_of_an_unknown_source_is_refused():
    pipeline = Pipeline(FakeDetector(), [MemorySource("cam", frames=1)], [Collect()])
    with pytest.raises(PipelineError, match="no source 'nowhere'"):
        await pipeline.replace_stages("nowhere", [])
