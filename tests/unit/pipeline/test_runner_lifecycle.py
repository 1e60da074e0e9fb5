"""The runner's lifecycle with a fake model and in-memory sources: no weights, no video files.
The same behaviours with the real YOLO and real clips stay in tests/integration/test_pipeline.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.fake_model import FakeDetector, confidence_of
from tests.support.fake_source import MemorySource
from tests.support.results import ListSink
from vigil.errors import PipelineError
from vigil.pipeline import Pipeline, PipelineOptions


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def started(model=None, sources=(), sink=None, **options) -> tuple[Pipeline, ListSink, asyncio.Task]:
    sink = sink or ListSink()
    pipeline = Pipeline(model or FakeDetector(), list(sources), [sink], PipelineOptions(**options))
    return pipeline, sink, asyncio.create_task(pipeline.run())


async def test_every_frame_gets_its_own_result_in_frame_order():
    sink = ListSink()
    pipeline = Pipeline(FakeDetector(), [MemorySource("a", 12), MemorySource("b", 7)], [sink], PipelineOptions(max_batch=4))
    report = await pipeline.run()
    assert sink.seqs("a") == list(range(12)) and sink.seqs("b") == list(range(7))
    for result in sink.results:  # the detection was made from that very frame
        assert int(result.detections.data["seq"][0]) == result.frame.seq
        assert result.detections.confidence[0] == pytest.approx(confidence_of(result.frame.seq))
    assert report.results == 19 and report.failed_batches == 0 and report.batches < 19


async def test_duplicate_source_ids_are_a_pipeline_error():
    with pytest.raises(PipelineError, match="unique"):
        Pipeline(FakeDetector(), [MemorySource("a"), MemorySource("a")], [ListSink()])


async def test_sources_are_added_and_removed_while_running():
    pipeline, sink, run = started(sources=[MemorySource("a", None, interval_s=0.005, live=True)], keep_running=True)
    await pipeline.running.wait()
    await until(lambda: len(sink.seqs("a")) >= 3)
    await pipeline.add_source(MemorySource("b", None, interval_s=0.005, live=True))
    with pytest.raises(PipelineError, match="'b' already exists"):
        await pipeline.add_source(MemorySource("b", 1))
    await until(lambda: len(sink.seqs("b")) >= 3)
    await pipeline.remove_source("a")
    after_removal = len(sink.seqs("a"))
    await until(lambda: len(sink.seqs("b")) >= 10)
    assert len(sink.seqs("a")) == after_removal  # nothing of a once its frames in flight are done
    assert [s.source_id for s in pipeline.sources] == ["b"]
    pipeline.request_stop()
    report = await asyncio.wait_for(run, 10)
    assert report.sources["a"].results == after_removal and report.sources["b"].results == len(sink.seqs("b"))
    for source in ("a", "b"):
        assert sink.seqs(source) == list(range(len(sink.seqs(source))))  # in order, none lost


async def test_a_pipeline_without_keep_running_takes_no_new_sources():
    pipeline, _, run = started(sources=[MemorySource("a", None, interval_s=0.01)])
    await pipeline.running.wait()
    with pytest.raises(PipelineError, match="takes no new sources"):
        await pipeline.add_source(MemorySource("b", 1))
    pipeline.request_stop()
    await asyncio.wait_for(run, 10)


async def test_a_stopping_pipeline_takes_no_new_sources():
    pipeline, _, run = started(sources=[MemorySource("a", None, interval_s=0.01)], keep_running=True)
    await pipeline.running.wait()
    pipeline.request_stop()
    with pytest.raises(PipelineError, match="stopping"):
        await pipeline.add_source(MemorySource("b", 1))
    await asyncio.wait_for(run, 10)


async def test_frames_read_before_a_stop_drain_within_the_budget():
    model = FakeDetector(infer_delay_s=0.02)
    pipeline, sink, run = started(model, [MemorySource("a", None)], max_batch=2, drain_timeout_s=10.0)
    await until(lambda: len(sink.results) >= 4)
    pipeline.request_stop()
    report = await asyncio.wait_for(run, 10)
    assert not report.drain_timed_out
    assert report.sources["a"].results == report.sources["a"].frames_in  # every frame read got its result
    assert sink.seqs("a") == list(range(len(sink.results)))


async def test_a_drain_longer_than_its_budget_is_cancelled():
    model = FakeDetector(infer_delay_s=0.3)
    pipeline, sink, run = started(model, [MemorySource("a", None)], max_batch=1, drain_timeout_s=0.2)
    await until(lambda: len(model.batches) >= 1)
    stop_asked = time.monotonic()
    pipeline.request_stop()
    report = await asyncio.wait_for(run, 10)
    assert report.drain_timed_out
    assert time.monotonic() - stop_asked < 2.0  # the budget, plus the inference running when it ran out
    assert report.sources["a"].results < report.sources["a"].frames_in


async def test_a_failed_batch_is_skipped_and_the_rest_go_on(caplog):
    model = FakeDetector(fail_seqs={5})
    sink = ListSink()
    report = await Pipeline(model, [MemorySource("a", 12)], [sink], PipelineOptions(max_batch=1)).run()
    assert report.failed_batches == 1
    assert sink.seqs("a") == [s for s in range(12) if s != 5]
    assert "fake failure on frame(s) [5]" in caplog.text


async def test_replace_model_takes_over_at_the_next_batch():
    first, second = FakeDetector(model_id="first"), FakeDetector(model_id="second", batch=None)
    pipeline, sink, run = started(first, [MemorySource("a", None, interval_s=0.005)], keep_running=True, max_batch=2)
    await until(lambda: len(sink.results) >= 5)
    pipeline.replace_model(second, PipelineOptions(max_batch=1))
    await until(lambda: sum(r.model_id == "second" for r in sink.results) >= 5)
    pipeline.request_stop()
    await asyncio.wait_for(run, 10)
    ids = [r.model_id for r in sink.results]
    switch = ids.index("second")
    assert set(ids[:switch]) == {"first"} and set(ids[switch:]) == {"second"}  # no going back
    assert pipeline.batch_size == 1 and all(len(b) == 1 for b in second.batches)
    assert sink.seqs("a") == list(range(len(sink.results)))  # no frame lost in the swap
