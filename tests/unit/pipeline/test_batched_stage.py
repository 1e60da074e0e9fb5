"""A `BatchedStage` (a cascade's secondary model) splits the chains: every source of a batch runs
up to it, its shared step runs once for all of them, and the chains go on, results in frame
order, a dropped result never reaching the step, a failing step dropping only its results."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tests.support.fake_model import FakeDetector
from tests.support.fake_source import MemorySource
from tests.support.results import ListSink
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.pipeline.chain import StageChains
from vigil.result import InferenceResult
from vigil.stages import Stage, StageOutput
from vigil.stages.base import BatchedStage, BatchedStep


class CountingStep(BatchedStep):
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, list[int]]] = []
        self.fail = fail

    def run(self, work: Sequence[tuple[BatchedStage, list[InferenceResult]]]) -> list[list[InferenceResult | StageOutput | None]]:
        self.calls.append({stage.source: [r.frame.seq for r in results] for stage, results in work})  # type: ignore[attr-defined]
        if self.fail:
            raise RuntimeError("secondary model broke")
        return [[StageOutput(r, (f"{stage.source}#{r.frame.seq}",)) for r in results] for stage, results in work]  # type: ignore[attr-defined]


class Tagged(BatchedStage):
    def __init__(self, source: str, step: BatchedStep) -> None:
        self.source, self.step = source, step


class DropOdd(Stage):
    def process(self, result: InferenceResult) -> InferenceResult | None:
        return None if result.frame.seq % 2 else result


class Order(Stage):
    def __init__(self, seen: list[tuple[str, int]]) -> None:
        self.seen = seen

    def process(self, result: InferenceResult) -> InferenceResult:
        self.seen.append((result.frame.source_id, result.frame.seq))
        return result


async def test_one_step_call_per_batch_for_every_source_that_reaches_it():
    step, seen, sink = CountingStep(), [], ListSink()
    stages = {"a": [DropOdd(), Tagged("a", step), Order(seen)], "b": [Tagged("b", step), Order(seen)], "c": [Order(seen)]}
    pipeline = Pipeline(FakeDetector(), [MemorySource(s, 8) for s in "abc"], [sink], PipelineOptions(max_batch=6), stages=stages)
    report = await pipeline.run()
    assert report.batches == len(step.calls)  # one call per batch, all sources' results in it
    assert [seq for call in step.calls for seq in call.get("a", [])] == [0, 2, 4, 6]  # dropped results never reach it
    assert [seq for call in step.calls for seq in call.get("b", [])] == list(range(8))
    assert any(len(call) == 2 for call in step.calls)  # a and b batched together
    assert [q for s, q in seen if s == "b"] == list(range(8)) and [q for s, q in seen if s == "c"] == list(range(8))
    assert sink.seqs("a") == [0, 2, 4, 6]


async def test_a_failing_step_drops_only_the_results_it_had():
    step, seen = CountingStep(fail=True), []
    chains = StageChains()
    chains.set("a", [Tagged("a", step), Order(seen)])
    chains.set("b", [Order(seen)])
    results = [r for s in "ab" for r in _results(s, 3)]

    async def offload(fn, *args):
        return await asyncio.to_thread(fn, *args)

    outputs = await chains.run(results, offload)
    assert [o.result is None for o in outputs] == [True] * 3 + [False] * 3
    assert seen == [("b", 0), ("b", 1), ("b", 2)] and chains.current("a").failures == 3


def _results(source: str, n: int) -> list[InferenceResult]:
    from datetime import datetime, timezone

    from tests.support.fake_model import frame_image
    from vigil.engine import Detections
    from vigil.frame import Frame
    from vigil.result import Timings

    return [
        InferenceResult(
            Frame(source, i, i / 10, datetime.now(timezone.utc), frame_image(i)), "m", Detections.empty(), Timings(0, 0, 0, 0, 0)
        )
        for i in range(n)
    ]
