"""A pipeline with several models: each model its own batcher, batch size and inference thread;
a source's frames go to every model it names (decoded once), its primary model's results through
its stages, the others' straight to the sinks; replacing one model leaves the others alone."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.support.fake_model import FakeDetector
from tests.support.fake_source import MemorySource
from tests.support.results import ListSink
from vigil.engine import BatchSpec
from vigil.errors import PipelineError
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.pipeline.observer import PipelineObserver
from vigil.result import InferenceResult
from vigil.stages import Stage


class Batches(PipelineObserver):
    def __init__(self) -> None:
        self.sizes: dict[str, list[int]] = {}

    def batch_done(
        self, size: int, padded_to: int, pre_ms: float, infer_ms: float, post_ms: float, model: str = "default"
    ) -> None:
        self.sizes.setdefault(model, []).append(size)


class Tag(Stage):
    """Marks the results it saw, to tell which results went through the source's stages."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def process(self, result: InferenceResult) -> InferenceResult:
        self.seen.append(result.model_id)
        return result


class ThreadNoting(FakeDetector):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threads: set[str] = set()

    def forward(self, batch):
        self.threads.add(threading.current_thread().name)
        return super().forward(batch)


async def test_each_source_gets_results_from_the_models_it_names_in_frame_order():
    people, scene = ThreadNoting(model_id="people"), ThreadNoting(model_id="scene", batch=BatchSpec.fixed(2))
    sink, observer, tag = ListSink(), Batches(), Tag()
    pipeline = Pipeline(
        {"people": people, "scene": scene},
        [MemorySource("door", 9), MemorySource("yard", 6)],
        [sink],
        PipelineOptions(max_batch=4),
        observer,
        stages={"door": [tag]},
        source_models={"door": ["people", "scene"], "yard": ["scene"]},
    )
    report = await pipeline.run()
    by = {
        (s, m): [r.frame.seq for r in sink.results if r.frame.source_id == s and r.model_id == m]
        for s in ("door", "yard")
        for m in ("people", "scene")
    }
    assert by[("door", "people")] == list(range(9)) and by[("door", "scene")] == list(range(9))
    assert by[("yard", "scene")] == list(range(6)) and by[("yard", "people")] == []
    assert tag.seen == ["people"] * 9  # only door's primary model's results go through door's stages
    assert report.results == 24
    assert max(observer.sizes["people"]) <= 4 and set(observer.sizes["scene"]) <= {1, 2}  # each its own batch size
    assert sorted(seq for batch in people.batches for seq in batch) == list(range(9))  # people saw door's frames only
    assert people.threads.isdisjoint(scene.threads)  # each model its own inference thread


async def test_the_same_frame_object_reaches_both_models():
    sink = ListSink()
    pipeline = Pipeline(
        {"a": FakeDetector(model_id="a"), "b": FakeDetector(model_id="b")},
        [MemorySource("cam", 5)],
        [sink],
        source_models={"cam": ["a", "b"]},
    )
    await pipeline.run()
    frames = {}
    for result in sink.results:
        frames.setdefault(result.frame.seq, set()).add(id(result.frame))
    assert len(frames) == 5 and all(len(ids) == 1 for ids in frames.values())  # decoded once, shared


async def test_replacing_one_model_leaves_the_other_untouched():
    first, other, second = FakeDetector(model_id="first"), FakeDetector(model_id="other"), FakeDetector(model_id="second")
    sink = ListSink()
    pipeline = Pipeline(
        {"main": first, "side": other},
        [MemorySource("cam", None, interval_s=0.005, live=True)],
        [sink],
        PipelineOptions(keep_running=True),
        source_models={"cam": ["main", "side"]},
    )
    run = asyncio.create_task(pipeline.run())
    await pipeline.running.wait()
    while len(sink.results) < 10:
        await asyncio.sleep(0.01)
    pipeline.replace_model(second, PipelineOptions(max_batch=1), name="main")
    count = len(second.batches)
    while len(second.batches) < count + 5:
        await asyncio.sleep(0.01)
    assert pipeline.models == {"main": second, "side": other}
    assert pipeline.lanes["main"].batch_size == 1 and pipeline.lanes["side"].batch_size == 4
    with pytest.raises(PipelineError, match="no model 'nope'"):
        pipeline.replace_model(second, name="nope")
    pipeline.request_stop()
    await run
    late = [r.model_id for r in sink.results[-6:]]
    assert "other" in late and "second" in late and "first" not in late


async def test_a_source_naming_an_unknown_model_is_refused():
    with pytest.raises(PipelineError, match="'nope'.*models: a"):
        Pipeline({"a": FakeDetector()}, [MemorySource("cam", 1)], [ListSink()], source_models={"cam": ["nope"]})
    pipeline = Pipeline({"a": FakeDetector()}, [], [ListSink()])
    with pytest.raises(PipelineError, match="'b'"):
        await pipeline.add_source(MemorySource("cam", 1), models=["b"])
