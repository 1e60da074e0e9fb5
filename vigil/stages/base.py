"""The stage face: per-source processing of results between the model and the sinks.

A stage is made once per source by its factory (`vigil.stages.registry`), sees that source's
results one at a time in frame order (never two at once, so its state needs no lock) on the
pipeline's worker pool, and answers with the result to pass on (possibly changed), None to drop
it, or a `StageOutput` when it also has records to add (the events of a tracker or a zone):

    class CountFaces(Stage):
        def __init__(self, config: CountFacesConfig, context: StageContext) -> None:
            self.seen = 0

        def process(self, result: InferenceResult) -> InferenceResult | StageOutput | None:
            self.seen += len(result.detections)
            return result
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigil.result import InferenceResult

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder

__all__ = ["BatchedStage", "BatchedStep", "Stage", "StageContext", "StageOutput"]


@dataclass(frozen=True, slots=True)
class StageOutput:
    """A stage's answer when it adds records: the result to pass on (None: drop it) and records
    that travel beside it to the sinks, kept even when a later stage drops the result."""

    result: InferenceResult | None
    records: tuple[object, ...] = ()


@dataclass(frozen=True, slots=True)
class StageContext:
    """What a factory gets besides its config: the source the stage serves and, when that
    source records event clips (`sources[].clips`), its `ClipRecorder`."""

    source: str
    clips: ClipRecorder | None = None


class Stage(ABC):
    """One step of a source's chain. Runs on a worker thread, never on the event loop, with
    that source's results in frame order. An exception drops that one result (logged); the
    stage keeps serving the next ones."""

    @abstractmethod
    def process(self, result: InferenceResult) -> InferenceResult | StageOutput | None:
        """The result to pass on, None to drop it, or a `StageOutput` with records added."""

    def close(self) -> tuple[object, ...]:
        """The source has ended (or was removed, or the pipeline stops) and its last result has
        been through `process`: records to add now (a tracker's `object_end` for the objects
        still alive). Called once, on a worker thread; the default adds nothing."""
        return ()


class BatchedStep(ABC):
    """Work that one batch's sources share (a cascade's secondary model, run on the crops of every
    camera at once). Every source's `BatchedStage` of this kind holds the same step."""

    @abstractmethod
    def run(self, work: Sequence[tuple[BatchedStage, list[InferenceResult]]]) -> list[list[InferenceResult | StageOutput | None]]:
        """For each (stage, that source's results in frame order): the answers, as `Stage.process` gives them."""


class BatchedStage(Stage):
    """A stage whose work is done for all the sources of a batch together: the chains run up to
    it, then its `step` runs once with every source's results that reached it (on a worker
    thread), then the chains go on. `process` runs it for one source alone."""

    step: BatchedStep

    def process(self, result: InferenceResult) -> InferenceResult | StageOutput | None:
        return self.step.run([(self, [result])])[0][0]
