"""A source's end closes its stages behind its last result: `Stage.close` runs once, after every
result of that source went through `process`, and its records reach the sinks after those
results, while other sources go on (a daemon) or when the run ends (a CLI run)."""

from __future__ import annotations

import asyncio
import time

from tests.support.fake_model import FakeDetector
from tests.support.fake_source import MemorySource
from tests.support.results import ListSink
from vigil.events import Event
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.result import InferenceResult
from vigil.stages import Stage


class EventSink(ListSink):
    """Keeps results and events in one list, in the order they were published."""

    records = frozenset({"results", "events"})
    takes_events = True

    def __init__(self) -> None:
        super().__init__()
        self.order: list[tuple[str, str, int]] = []

    async def publish(self, result: InferenceResult) -> None:
        await super().publish(result)
        self.order.append(("result", result.frame.source_id, result.frame.seq))

    async def publish_event(self, event: Event) -> None:
        self.order.append((event.type, event.source, event.seq))


class LastSeen(Stage):
    """Counts what it processed; on close, an `object_end` at the last seq it saw."""

    def __init__(self, source: str) -> None:
        self.source, self.last, self.closed = source, -1, 0
        self.last_result: InferenceResult | None = None

    def process(self, result: InferenceResult) -> InferenceResult:
        self.last, self.last_result = result.frame.seq, result
        return result

    def close(self) -> tuple[object, ...]:
        self.closed += 1
        assert self.last_result is not None
        frame = self.last_result.frame
        return (Event("object_end", self.source, 1, "FACE", 0, frame.capture_time, self.last),)


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_source_that_ends_closes_its_stages_after_its_last_result_while_others_go_on():
    sink = EventSink()
    short, endless = LastSeen("short"), LastSeen("endless")
    pipeline = Pipeline(
        FakeDetector(),
        [MemorySource("short", 9), MemorySource("endless", None, interval_s=0.005, live=True)],
        [sink],
        PipelineOptions(max_batch=4, keep_running=True),
        stages={"short": [short], "endless": [endless]},
    )
    run = asyncio.create_task(pipeline.run())
    await until(lambda: ("object_end", "short", 8) in sink.order)
    assert short.closed == 1 and endless.closed == 0  # the other source still streams
    short_order = [o for o in sink.order if o[1] == "short"]
    assert short_order == [("result", "short", i) for i in range(9)] + [("object_end", "short", 8)]
    pipeline.request_stop()
    await run
    assert endless.closed == 1 and sink.order[-1] == ("object_end", "endless", endless.last)
    assert short.closed == 1


async def test_a_removed_source_closes_its_stages():
    sink = EventSink()
    stage = LastSeen("cam")
    pipeline = Pipeline(FakeDetector(), [], [sink], PipelineOptions(max_batch=2, keep_running=True))
    run = asyncio.create_task(pipeline.run())
    await pipeline.running.wait()
    await pipeline.add_source(MemorySource("cam", None, interval_s=0.005, live=True), [stage])
    await until(lambda: len(sink.seqs("cam")) >= 5)
    await pipeline.remove_source("cam")
    await until(lambda: stage.closed == 1)
    assert sink.order[-1] == ("object_end", "cam", sink.seqs("cam")[-1])
    pipeline.request_stop()
    await run
    assert stage.closed == 1  # once


async def test_a_failed_last_batch_still_closes_the_chain():
    sink = EventSink()
    stage = LastSeen("cam")
    pipeline = Pipeline(
        FakeDetector(fail_seqs={5}), [MemorySource("cam", 6)], [sink], PipelineOptions(max_batch=1), stages={"cam": [stage]}
    )
    await pipeline.run()
    assert stage.closed == 1 and sink.order[-1] == ("object_end", "cam", 4)
