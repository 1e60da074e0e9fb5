"""Stages' events reach the sinks that take them (`records:` of a `sinks:` entry), in order: a
JSONL file gets event lines between the result lines, a real webhook receiver gets them in the
body's `events` array, a sink left at the default gets results only, and a sink kind that cannot
take events is refused at assembly."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.integration.sinks.test_webhook_sink import receiver  # noqa: F401  (fixture)
from tests.support.fake_model import FakeDetector
from tests.support.fake_source import MemorySource
from vigil.config import PipelineConfig
from vigil.config.loader import parse_config
from vigil.errors import ConfigError
from vigil.events import Event
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.result import InferenceResult
from vigil.sinks.registry import build_sink
from vigil.stages.base import Stage, StageOutput


class EveryThird(Stage):
    """Emits an `object_start` event for every third frame of its source."""

    def __init__(self, source: str) -> None:
        self.source = source

    def process(self, result: InferenceResult) -> StageOutput:
        seq = result.frame.seq
        if seq % 3:
            return StageOutput(result)
        event = Event("object_start", self.source, seq, "thing", 0, result.frame.capture_time, seq, confidence=0.9)
        return StageOutput(result, (event,))


def _config(tmp_path, hook_url: str) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "model": {"path": "unused.onnx"},
            "sources": [{"name": "cam", "url": "cam.mp4"}],
            "sinks": [
                {"kind": "jsonl", "name": "all", "path": str(tmp_path / "all.jsonl"), "records": ["results", "events"]},
                {"kind": "jsonl", "name": "frames", "path": str(tmp_path / "frames.jsonl")},
                {
                    "kind": "webhook",
                    "name": "alerts",
                    "url": hook_url,
                    "spool_dir": str(tmp_path / "spool"),
                    "records": ["events"],
                    "retry_initial_s": 0.05,
                },
            ],
        }
    )


async def test_events_go_only_to_the_sinks_that_take_them_in_order(tmp_path, receiver):  # noqa: F811
    hook = await receiver()
    config = _config(tmp_path, hook.url)
    sinks = [await build_sink(entry) for entry in config.sinks]
    pipeline = Pipeline(
        FakeDetector(),
        [MemorySource("cam", frames=12)],
        sinks,
        PipelineOptions(max_batch=4),
        stages={"cam": [EveryThird("cam")]},
    )
    await pipeline.run()

    lines = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    kinds = [("event", r["seq"]) if r.get("record") == "event" else ("result", r["seq"]) for r in lines]
    expected = []
    for seq in range(12):
        expected.append(("result", seq))
        if seq % 3 == 0:
            expected.append(("event", seq))
    assert kinds == expected  # each event right after its frame's result
    event = next(r for r in lines if r.get("record") == "event")
    assert event["type"] == "object_start" and event["schema"] == 1 and event["tracker_id"] == 0
    assert datetime.fromisoformat(event["capture_time"]) and len(event["id"]) == 36

    frames = [json.loads(line) for line in (tmp_path / "frames.jsonl").read_text().splitlines()]
    assert [r["seq"] for r in frames] == list(range(12)) and all("record" not in r for r in frames)

    bodies = [seen.body for seen in hook.seen]
    assert all(body["results"] == [] for body in bodies)  # records: [events] only
    delivered = [e["seq"] for body in bodies for e in body.get("events", [])]
    assert delivered == [0, 3, 6, 9]
    ids = {e["id"] for body in bodies for e in body["events"]}
    assert ids == {r["id"] for r in lines if r.get("record") == "event"}  # one id, whatever carries it


async def test_a_sink_kind_that_cannot_take_events_is_refused_when_the_config_is_read(tmp_path):
    text = f"""model: {{path: unused.onnx}}
sources: [{{name: cam, url: cam.mp4}}]
sinks:
  - {{kind: jsonl, path: {tmp_path / "out.jsonl"}, records: [events]}}
  - {{kind: video, directory: {tmp_path / "v"}, records: [results, events]}}
"""
    with pytest.raises(ConfigError, match=r"line 5: sinks\[1\]: .*a video sink cannot take events"):
        parse_config(text, "cam.yaml", {})  # what `vigil check` runs


def test_records_must_name_results_or_events():
    with pytest.raises(Exception, match="records"):
        PipelineConfig.model_validate(
            {
                "model": {"path": "m.onnx"},
                "sources": [{"name": "cam", "url": "cam.mp4"}],
                "sinks": [{"kind": "jsonl", "path": "x.jsonl", "records": ["frames"]}],
            }
        )
