"""The observer hears a stage's events before any sink gets them: those made with a result and
those a stage makes when its source ends (`Stage.close`), each batch once, in order."""

from __future__ import annotations

from collections.abc import Sequence

from tests.support.fake_model import FakeDetector
from tests.support.fake_source import MemorySource
from tests.support.results import ListSink
from vigil.events import Event
from vigil.pipeline import Pipeline, PipelineObserver, PipelineOptions
from vigil.result import InferenceResult
from vigil.stages import Stage, StageOutput


class EventSink(ListSink):
    records = frozenset({"results", "events"})
    takes_events = True

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    async def publish_event(self, event: Event) -> None:
        self.events.append(event)


class EveryThird(Stage):
    """An `object_start` with every third result and an `object_end` when the source ends."""

    def __init__(self) -> None:
        self.last: InferenceResult | None = None

    def process(self, result: InferenceResult) -> InferenceResult | StageOutput:
        self.last = result
        if result.frame.seq % 3:
            return result
        return StageOutput(result, records=(self._event("object_start", result), "not an event"))

    def close(self) -> tuple[object, ...]:
        assert self.last is not None
        return (self._event("object_end", self.last),)

    @staticmethod
    def _event(type_: str, result: InferenceResult) -> Event:
        frame = result.frame
        return Event(type_, frame.source_id, frame.seq, "FACE", 0, frame.capture_time, frame.seq)  # type: ignore[arg-type]


class Heard(PipelineObserver):
    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self.batches: list[list[tuple[str, int]]] = []
        self.sink_had: list[int] = []

    def events(self, events: Sequence[Event]) -> None:
        self.batches.append([(e.type, e.seq) for e in events])
        self.sink_had.append(len(self.sink.events))


async def test_the_observer_hears_each_batch_of_events_before_the_sinks_and_never_an_empty_one():
    sink = EventSink()
    observer = Heard(sink)
    pipeline = Pipeline(
        FakeDetector(), [MemorySource("door", 7)], [sink], PipelineOptions(max_batch=2), observer, stages={"door": [EveryThird()]}
    )
    await pipeline.run()
    assert observer.batches == [[("object_start", 0)], [("object_start", 3)], [("object_start", 6)], [("object_end", 6)]]
    assert observer.sink_had == [0, 1, 2, 3]  # when it heard a batch, the sink had only the batches before
    assert [(e.type, e.seq) for e in sink.events] == [b[0] for b in observer.batches]
