"""`StageChains`: each source's stages (`vigil.stages`), run between building results and the fanout.

A batch's results are grouped by source; each source's group goes through its chain in one call
on the worker pool, in frame order, and different sources' groups run at the same time. The
runner awaits a batch's chains before it takes the next batch, so one source's stages never run
twice at once (a stage's state needs no lock) and its results reach the fanout in frame order.
A batch whose sources have no stages costs no executor round trip.

A `BatchedStage` (a cascade) splits the chains: every source runs up to it, then its shared
`BatchedStep` runs once on all of those sources' results (the secondary model batched across
cameras), then each chain goes on from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.result import InferenceResult
from vigil.stages.base import BatchedStage, BatchedStep, Stage, StageOutput

__all__ = ["ChainOutput", "StageChain", "StageChains"]

log = logging.getLogger(__name__)

Offload = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ChainOutput:
    """One result after its source's stages (None: a stage dropped it) and the records the
    stages added (sent to sinks taking records, issue 16)."""

    result: InferenceResult | None
    records: tuple[object, ...] = ()


class _Progress:
    """One result on its way through a chain: where it is (None: dropped) and its records."""

    __slots__ = ("result", "records")

    def __init__(self, result: InferenceResult) -> None:
        self.result: InferenceResult | None = result
        self.records: list[object] = []

    def take(self, answer: InferenceResult | StageOutput | None) -> None:
        if isinstance(answer, StageOutput):
            self.records.extend(answer.records)
            answer = answer.result
        self.result = answer

    def output(self) -> ChainOutput:
        return ChainOutput(self.result, tuple(self.records))


class StageChain:
    """One source's stages in order. `run` (and `advance`) is called from one thread at a time."""

    def __init__(self, source: str, stages: Sequence[Stage]) -> None:
        self.source = source
        self.stages = list(stages)
        self.failures = 0  # results dropped because a stage raised
        self._runs = 0  # batches going through it now (StageChains.run)
        self._idle = asyncio.Event()
        self._idle.set()

    def entered(self) -> None:
        self._runs += 1
        self._idle.clear()

    def left(self) -> None:
        self._runs -= 1
        if self._runs == 0:
            self._idle.set()

    async def idle(self) -> None:
        """Until no batch is going through this chain (a replaced chain is closed after that)."""
        await self._idle.wait()

    def run(self, results: Sequence[InferenceResult]) -> list[ChainOutput]:
        """`results` through every stage (a batched stage runs for this source alone)."""
        return [self.one(result) for result in results]

    def one(self, result: InferenceResult) -> ChainOutput:
        progress = _Progress(result)
        for stage in self.stages:
            if not self._apply(stage, progress):
                break
        return progress.output()

    def advance(self, progress: list[_Progress], start: int) -> int:
        """Run `progress` through the stages from `start` up to the next batched stage (not
        included) or the end; the index where it stopped."""
        at = start
        while at < len(self.stages) and not isinstance(self.stages[at], BatchedStage):
            stage = self.stages[at]
            for item in progress:
                if item.result is not None:
                    self._apply(stage, item)
            at += 1
        return at

    def _apply(self, stage: Stage, item: _Progress) -> bool:
        """`stage` on `item`'s result; False when the result is gone (dropped, or the stage failed)."""
        assert item.result is not None
        try:
            item.take(stage.process(item.result))
        except Exception:
            self.failures += 1
            log.exception(
                "source '%s': stage %s failed on frame #%d; the result is dropped",
                self.source,
                type(stage).__name__,
                item.result.frame.seq,
            )
            item.result = None
        return item.result is not None

    def close(self) -> tuple[object, ...]:
        """The source's last result has been through `run`: each stage's closing records, in
        stage order (a stage that fails to close is logged; the others still close)."""
        records: list[object] = []
        for stage in self.stages:
            try:
                records.extend(stage.close())
            except Exception:
                self.failures += 1
                log.exception("source '%s': stage %s failed to close", self.source, type(stage).__name__)
        return tuple(records)


class StageChains:
    """The chains of a pipeline's sources, by source id (a source without stages has none)."""

    def __init__(self) -> None:
        self.chains: dict[str, StageChain] = {}

    def set(self, source: str, stages: Sequence[Stage]) -> None:
        """Give `source` these stages (fresh state); an empty list removes its chain."""
        if stages:
            self.chains[source] = StageChain(source, stages)
        else:
            self.chains.pop(source, None)

    def current(self, source: str) -> StageChain | None:
        return self.chains.get(source)

    async def close(self, chain: StageChain, offload: Offload) -> tuple[object, ...]:
        """Close `chain` (a source's chain when its lane ended; it may have been replaced since by
        a source added again under that id) on the worker pool: its stages' closing records."""
        if self.chains.get(chain.source) is chain:
            del self.chains[chain.source]
        return tuple(await offload(chain.close))

    async def run(self, results: Sequence[InferenceResult], offload: Offload) -> list[ChainOutput]:
        """`results` (one batch, in frame order per source) after their sources' stages, in the
        same order."""
        if not self.chains or not any(r.frame.source_id in self.chains for r in results):
            return [ChainOutput(r) for r in results]
        groups: dict[str, list[int]] = {}
        for i, result in enumerate(results):
            if result.frame.source_id in self.chains:
                groups.setdefault(result.frame.source_id, []).append(i)
        out = [ChainOutput(r) for r in results]
        chains = {source: self.chains[source] for source in groups}
        for chain in chains.values():
            chain.entered()
        try:
            if not any(isinstance(stage, BatchedStage) for chain in chains.values() for stage in chain.stages):
                done = await asyncio.gather(*(offload(chains[s].run, [results[i] for i in index]) for s, index in groups.items()))
            else:
                done = await self._run_segments(chains, {s: [results[i] for i in index] for s, index in groups.items()}, offload)
        finally:
            for chain in chains.values():
                chain.left()
        for index, outputs in zip(groups.values(), done):
            for i, output in zip(index, outputs):
                out[i] = output
        return out

    async def _run_segments(
        self, chains: dict[str, StageChain], grouped: dict[str, list[InferenceResult]], offload: Offload
    ) -> list[list[ChainOutput]]:
        """The chains in segments: each source up to its next batched stage (sources in parallel),
        then each shared step once for every source that reached it, until all are through."""
        progress = {source: [_Progress(r) for r in results] for source, results in grouped.items()}
        at = dict.fromkeys(grouped, 0)
        while True:
            moving = [s for s in grouped if at[s] < len(chains[s].stages)]
            if not moving:
                break
            stops = await asyncio.gather(*(offload(chains[s].advance, progress[s], at[s]) for s in moving))
            at.update(zip(moving, stops))
            waiting: dict[int, tuple[BatchedStep, list[str]]] = {}
            for s in moving:
                if at[s] < len(chains[s].stages):
                    step = chains[s].stages[at[s]].step  # type: ignore[attr-defined]  # a BatchedStage by advance()
                    waiting.setdefault(id(step), (step, []))[1].append(s)
            for step, sources in waiting.values():
                await offload(self._step, step, [(chains[s], chains[s].stages[at[s]], progress[s]) for s in sources])
                for s in sources:
                    at[s] += 1
        return [[item.output() for item in progress[s]] for s in grouped]

    @staticmethod
    def _step(step: BatchedStep, members: Sequence[tuple[StageChain, Stage, list[_Progress]]]) -> None:
        """One shared step for the results of every member that are still there."""
        live = [[item for item in items if item.result is not None] for _, _, items in members]
        work = [(stage, [item.result for item in items]) for (_, stage, _), items in zip(members, live) if items]
        try:
            answers = step.run(work)  # type: ignore[arg-type]  # BatchedStage, non-None results
        except Exception:
            log.exception(
                "batched stage %s failed on %d results; they are dropped", type(step).__name__, sum(len(i) for i in live)
            )
            for (chain, _, _), items in zip(members, live):
                chain.failures += len(items)
                for item in items:
                    item.result = None
            return
        for items, answer in zip([i for i in live if i], answers):
            for item, one in zip(items, answer):
                item.take(one)
