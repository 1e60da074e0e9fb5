"""What a pipeline run did: per source id and in total, and how its time was spent."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PipelineReport", "SourceReport"]


@dataclass(slots=True)
class SourceReport:
    """What a source id did over the whole run. A source removed and added again under the same
    id keeps adding to the same entry: `starts` counts how often it started reading, and
    `error` is that of its latest start or reading."""

    source_id: str
    frames_in: int = 0
    results: int = 0
    starts: int = 0
    error: str | None = None


@dataclass(slots=True)
class PipelineReport:
    """`elapsed_s`: the whole of `run()`. `processing_s`: from the first frame in to the last
    result out (or to the stop request, if that came first), what `frames_per_s` is measured
    over; `shutdown_s`: from the stop request (or, for a run that ended by itself, the end of
    the stages) until `run()` returned: the in-flight frames' drain, the sinks' flush and close
    (a webhook backlog). The two never overlap; source start-up before the first frame is in
    neither."""

    sources: dict[str, SourceReport] = field(default_factory=dict)
    batches: int = 0
    failed_batches: int = 0
    sink_errors: int = 0
    elapsed_s: float = 0.0
    processing_s: float = 0.0
    shutdown_s: float = 0.0
    drain_timed_out: bool = False

    @property
    def failed_sources(self) -> list[SourceReport]:
        return [s for s in self.sources.values() if s.error is not None]

    @property
    def results(self) -> int:
        return sum(s.results for s in self.sources.values())

    @property
    def frames_per_s(self) -> float:
        return self.results / self.processing_s if self.processing_s > 0 else 0.0

    def record_times(
        self,
        started: float,
        stages_done: float,
        ended: float,
        first_frame: float | None,
        last_result: float | None,
        stop_requested: float | None,
    ) -> None:
        """Split the run (`time.monotonic()` instants) into processing and shutdown."""
        shutdown_from = stages_done if stop_requested is None else min(stop_requested, stages_done)
        if first_frame is not None and last_result is not None:
            processing_to = last_result if stop_requested is None else min(stop_requested, last_result)
            self.processing_s = max(0.0, processing_to - first_frame)
        self.shutdown_s = ended - shutdown_from
        self.elapsed_s = ended - started
