"""The stage chain: each source's stages in order, records kept, a failing stage drops one result,
no executor round trip for sources without stages."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.support.results import make_result
from vigil.pipeline.chain import ChainOutput, StageChain, StageChains
from vigil.result import InferenceResult
from vigil.stages import Stage, StageOutput


class Tag(Stage):
    """Appends its name to a list each call and emits a record every `every` frames."""

    def __init__(self, name: str, calls: list[str], every: int = 0) -> None:
        self.name, self.calls, self.every = name, calls, every

    def process(self, result: InferenceResult) -> InferenceResult | StageOutput | None:
        self.calls.append(f"{self.name}{result.frame.seq}")
        if self.every and result.frame.seq % self.every == 0:
            return StageOutput(result, records=(f"{self.name}-event-{result.frame.seq}",))
        return result


class DropOdd(Stage):
    def process(self, result: InferenceResult) -> InferenceResult | None:
        return None if result.frame.seq % 2 else result


class Boom(Stage):
    def process(self, result: InferenceResult) -> InferenceResult:
        if result.frame.seq == 1:
            raise RuntimeError("bad frame")
        return result


def test_stages_run_in_order_and_records_survive_a_later_drop():
    calls: list[str] = []
    chain = StageChain("cam", [Tag("a", calls, every=1), DropOdd(), Tag("b", calls)])
    out = chain.run([make_result("cam", i) for i in range(3)])
    assert calls == ["a0", "b0", "a1", "a2", "b2"]  # b never sees the frame DropOdd dropped
    assert [o.result.frame.seq if o.result else None for o in out] == [0, None, 2]
    assert [o.records for o in out] == [("a-event-0",), ("a-event-1",), ("a-event-2",)]


def test_a_failing_stage_drops_that_result_only(caplog):
    chain = StageChain("cam", [Boom()])
    out = chain.run([make_result("cam", i) for i in range(3)])
    assert [o.result is not None for o in out] == [True, False, True]
    assert chain.failures == 1 and "stage Boom failed on frame #1" in caplog.text


async def test_sources_without_stages_cost_no_executor_round_trip():
    chains = StageChains()
    results = [make_result("cam", i) for i in range(4)]

    async def offload(*args):  # pragma: no cover - must not be called
        raise AssertionError("offloaded without stages")

    assert [o.result for o in await chains.run(results, offload)] == results


async def test_each_source_runs_in_one_call_per_batch_and_keeps_the_batch_order():
    calls: list[str] = []
    chains = StageChains()
    chains.set("a", [Tag("a", calls)])
    offloaded: list[int] = []
    loop = asyncio.get_running_loop()

    def offload(fn, items):
        offloaded.append(len(items))
        return loop.run_in_executor(None, fn, items)

    results = [make_result(s, i) for i, s in enumerate(["a", "b", "a", "b"])]
    out = await chains.run(results, offload)
    assert offloaded == [2]  # source b has no stages: not offloaded at all
    assert [(o.result.frame.source_id, o.result.frame.seq) for o in out if o.result] == [("a", 0), ("b", 1), ("a", 2), ("b", 3)]
    assert calls == ["a0", "a2"]
    chains.set("a", [])
    assert "a" not in chains.chains


@pytest.mark.parametrize("answer", [None, "result", "output"])
def test_a_stage_may_answer_with_a_result_none_or_an_output(answer):
    result = make_result("cam", 0)

    class Answer(Stage):
        def process(self, r: InferenceResult) -> InferenceResult | StageOutput | None:
            return {"result": r, "output": StageOutput(r, ("x",)), None: None}[answer]

    out = StageChain("cam", [Answer()]).one(result)
    assert out == {None: ChainOutput(None), "result": ChainOutput(result), "output": ChainOutput(result, ("x",))}[answer]
    assert threading.current_thread() is threading.main_thread()
