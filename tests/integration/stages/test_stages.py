"""Stages in a real pipeline: a kind registered from outside vigil, used through a YAML; each
source's stages on the worker pool, in frame order, never two at once for one source."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import Field

from tests.support.results import ListSink
from vigil.config._section import Section
from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_source, make_stages
from vigil.engine import AutoModel
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.result import InferenceResult
from vigil.stages import Stage, StageContext, StageOutput
from vigil.stages.registry import STAGES


class RecorderConfig(Section):
    every: int = Field(1, ge=1, description="Keep one result in this many.")
    hold_ms: float = Field(0.0, ge=0, description="Time spent per result, to make overlaps likely.")


class Recorder(Stage):
    """Keeps one result in `every`, and records (source, seq, thread) of every call it gets."""

    calls: list[tuple[str, int, str]] = []
    busy: dict[str, int] = {}
    overlaps: list[str] = []

    def __init__(self, config: RecorderConfig, context: StageContext) -> None:
        self.config, self.source = config, context.source

    def process(self, result: InferenceResult) -> InferenceResult | StageOutput | None:
        seq = result.frame.seq
        Recorder.busy[self.source] = Recorder.busy.get(self.source, 0) + 1
        if Recorder.busy[self.source] > 1:
            Recorder.overlaps.append(self.source)
        Recorder.calls.append((self.source, seq, threading.current_thread().name))
        time.sleep(self.config.hold_ms / 1000)
        Recorder.busy[self.source] -= 1
        return result if seq % self.config.every == 0 else None


@pytest.fixture
def recorder_kind():
    STAGES.register("recorder", RecorderConfig, Recorder)
    Recorder.calls, Recorder.busy, Recorder.overlaps = [], {}, []
    yield
    STAGES.unregister("recorder")


def yaml(clips: dict[str, Path], model: Path, stages: str) -> str:
    sources = "".join(f"  - name: {name}\n    url: {path}\n    stages:\n{stages}" for name, path in clips.items())
    return f"model:\n  path: {model}\nsources:\n{sources}sinks:\n  - kind: jsonl\n    path: unused.jsonl\n"


async def run(text: str, model_path: Path) -> tuple[ListSink, Pipeline]:
    config = parse_config(text, "t.yaml", {})
    sink = ListSink()
    stages = {s.name: make_stages(s) for s in config.sources}
    pipeline = Pipeline(
        AutoModel.from_pretrained(model_path),
        [make_source(s) for s in config.sources],
        [sink],
        PipelineOptions(max_batch=4, worker_threads=2),
        stages=stages,
    )
    await pipeline.run()
    return sink, pipeline


async def test_a_stage_registered_outside_vigil_runs_per_source_in_order_off_the_loop(recorder_kind, clips, nudenet_path):
    stages = "      - kind: recorder\n        every: 2\n        hold_ms: 2\n      - kind: filter\n        min_confidence: 0.6\n"
    loop_thread = threading.current_thread().name
    sink, pipeline = await run(yaml(clips, nudenet_path, stages), nudenet_path)

    for name, frames in (("astronaut", 24), ("coffee", 18)):
        seen = [seq for source, seq, _ in Recorder.calls if source == name]
        assert seen == list(range(frames))  # every result, in frame order
        assert sink.seqs(name) == list(range(0, frames, 2))  # the recorder kept one in two, in order
    assert all(d >= 0.6 for r in sink.results for d in r.detections.confidence)  # then the filter stage ran
    threads = {thread for _, _, thread in Recorder.calls}
    assert loop_thread not in threads and all(t.startswith("vigil-work") for t in threads)
    assert Recorder.overlaps == []  # one source's stage never ran twice at once
    assert pipeline.report.results == 42  # results counts inference; stages decide what is published


async def test_no_stage_kind_is_known_once_unregistered(clips, nudenet_path):
    from vigil.errors import ConfigError

    with pytest.raises(ConfigError, match=r"stages\[0\].kind: unknown stage kind 'recorder'"):
        parse_config(yaml(clips, nudenet_path, "      - kind: recorder\n"), "t.yaml", {})
