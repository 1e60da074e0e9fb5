"""`StageChains`: each source's stages (`vigil.stages`), run between building results and the fanout.

A batch's results are grouped by source; each source's group goes through its chain in one call
on the worker pool, in frame order, and different sources' groups run at the same time. The
runner awaits a batch's chains before it takes the next batch, so one source's stages never run
twice at once (a stage's state needs no lock) and its results reach the fanout in frame order.
A batch whose sources have no stages costs no executor round trip.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from dataclasses import dataclass

from vigil.result import InferenceResult
from vigil.stages.base import Stage, StageOutput

__all__ = ["ChainOutput", "StageChain", "StageChains"]

log = logging.getLogger(__name__)

Offload = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ChainOutput:
    """One result after its source's stages (None: a stage dropped it) and the records the
    stages added (sent to sinks taking records, issue 16)."""

    result: InferenceResult | None
    records: tuple[object, ...] = ()


class StageChain:
    """One source's stages in order. `run` is called from one thread at a time."""

    def __init__(self, source: str, stages: Sequence[Stage]) -> None:
        self.source = source
        self.stages = list(stages)
        self.failures = 0  # results dropped because a stage raised

    def run(self, results: Sequence[InferenceResult]) -> list[ChainOutput]:
        return [self.one(result) for result in results]

    def one(self, result: InferenceResult) -> ChainOutput:
        records: list[object] = []
        current: InferenceResult | None = result
        for stage in self.stages:
            try:
                answer = stage.process(current)  # type: ignore[arg-type]  # None never reaches a stage
            except Exception:
                self.failures += 1
                log.exception("source '%s': stage %s failed on frame #%d; the result is dropped",
                              self.source, type(stage).__name__, result.frame.seq)
                return ChainOutput(None, tuple(records))
            if isinstance(answer, StageOutput):
                records.extend(answer.records)
                answer = answer.result
            if answer is None:
                return ChainOutput(None, tuple(records))
            current = answer
        return ChainOutput(current, tuple(records))

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
        done = await asyncio.gather(
            *(offload(self.chains[source].run, [results[i] for i in index]) for source, index in groups.items())
        )
        for index, outputs in zip(groups.values(), done):
            for i, output in zip(index, outputs):
                out[i] = output
        return out
