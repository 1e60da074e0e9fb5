"""The pipeline's report: per-source history across removal and re-adding, and processing time
told apart from shutdown time. Stub model, sources and sinks: only the pipeline's own logic runs.

Timing checks are lower bounds of real sleeps (never upper bounds), so a loaded machine cannot
make them fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone

import numpy as np
import pytest

from vigil.cli.main import _summary
from vigil.engine import BatchSpec, Detections
from vigil.frame import Frame
from vigil.pipeline.runner import Pipeline, PipelineOptions, PipelineReport, SourceReport
from vigil.result import InferenceResult
from vigil.sinks.base import Sink
from vigil.sources.base import Source, SourceState


class NoModel:
    """Every stage of a model, doing nothing: one empty result per image."""

    model_id, class_names, batch = "stub", ["thing"], BatchSpec()

    def pre_process(self, images: list[np.ndarray]) -> list[np.ndarray]:
        return images

    def forward(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        return prepared

    def post_process(self, raw: list[np.ndarray], prepared: list[np.ndarray]) -> list[Detections]:
        return [Detections.empty() for _ in raw]

    def close(self) -> None:
        pass


class Frames(Source):
    """`count` tiny frames, the first after `delay_s`, then one every `every_s`; ends after them."""

    def __init__(self, source_id: str, count: int, *, delay_s: float = 0.0, every_s: float = 0.0) -> None:
        super().__init__()
        self.source_id, self.count, self.delay_s, self.every_s = source_id, count, delay_s, every_s
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        self.state = SourceState.STREAMING

    async def stop(self) -> None:
        self._stopped.set()

    async def __aiter__(self) -> AsyncIterator[Frame]:
        await asyncio.sleep(self.delay_s)
        for seq in range(self.count):
            if self._stopped.is_set():
                return
            yield Frame(self.source_id, seq, seq / 10, datetime.now(timezone.utc), np.zeros((8, 8, 3), np.uint8))
            await asyncio.sleep(self.every_s)


class SlowToClose(Sink):
    """Keeps results; closing takes `close_s`, like a webhook sending its backlog."""

    name = "slow"

    def __init__(self, close_s: float = 0.0) -> None:
        self.close_s, self.results = close_s, list[InferenceResult]()

    async def publish(self, result: InferenceResult) -> None:
        self.results.append(result)

    async def flush(self) -> None:
        pass

    async def close(self) -> None:
        await asyncio.sleep(self.close_s)


async def until(predicate, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_a_source_removed_and_added_again_keeps_its_counts_and_counts_its_starts():
    sink = SlowToClose()
    options = PipelineOptions(keep_running=True)
    pipeline = Pipeline(NoModel(), [Frames("cam", 5)], [sink], options)  # type: ignore[arg-type]
    run = asyncio.create_task(pipeline.run())
    await until(lambda: len(sink.results) == 5)
    await pipeline.remove_source("cam")
    await pipeline.add_source(Frames("cam", 3))
    await until(lambda: len(sink.results) == 8)
    pipeline.request_stop()
    report = await asyncio.wait_for(run, 10)
    assert report.sources["cam"] == SourceReport("cam", frames_in=8, results=8, starts=2)
    assert report.results == 8


async def test_processing_time_excludes_start_up_and_the_sinks_closing():
    """Frames come 0.2 s after the start, 0.05 s apart; the sink takes 0.3 s to close."""
    sink = SlowToClose(close_s=0.3)
    source = Frames("a", 5, delay_s=0.2, every_s=0.05)
    pipeline = Pipeline(NoModel(), [source], [sink], PipelineOptions(max_batch=1))  # type: ignore[arg-type]
    report = await pipeline.run()
    assert report.results == 5
    assert report.processing_s >= 0.2  # four gaps of 0.05 s between the first and last frame
    assert report.shutdown_s >= 0.3
    assert report.elapsed_s - report.processing_s >= 0.2 + 0.3
    assert report.processing_s + report.shutdown_s <= report.elapsed_s
    assert report.frames_per_s == pytest.approx(5 / report.processing_s) and report.frames_per_s <= 25


async def test_shutdown_time_counts_from_the_stop_request():
    sink = SlowToClose(close_s=0.3)
    options = PipelineOptions(keep_running=True)
    pipeline = Pipeline(NoModel(), [Frames("a", 1000, every_s=0.05)], [sink], options)  # type: ignore[arg-type]
    run = asyncio.create_task(pipeline.run())
    await until(lambda: len(sink.results) >= 5)
    pipeline.request_stop()
    report = await asyncio.wait_for(run, 10)
    assert report.shutdown_s >= 0.3
    assert report.processing_s >= 0.2  # the fifth result came at least four gaps after the first frame
    assert report.processing_s + report.shutdown_s <= report.elapsed_s


async def test_a_run_without_frames_reports_no_processing_time():
    pipeline = Pipeline(NoModel(), [Frames("a", 0)], [SlowToClose()])  # type: ignore[arg-type]
    report = await pipeline.run()
    assert report.results == 0 and report.processing_s == 0.0 and report.frames_per_s == 0.0


def test_summary_gives_frames_per_second_over_processing_and_the_shutdown_apart():
    report = PipelineReport(
        sources={
            "ball-cam": SourceReport("ball-cam", results=505, starts=2),
            "door": SourceReport("door", results=100, starts=1),
        },
        processing_s=20.0,
        shutdown_s=12.14,
        elapsed_s=35.0,
    )
    assert _summary(report) == (
        "done: 605 results in 20.0 s (30.2 frames/s); shutdown took 12.1 s: ball-cam=505 (started 2 times), door=100"
    )
