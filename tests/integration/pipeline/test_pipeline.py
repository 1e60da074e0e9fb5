"""The pipeline end to end in-process: real model, real files, real JSONL output."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import encode_clip, photo
from vigil.engine import AutoModel
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.sinks import JsonlSink
from vigil.sources import FileSource


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return encode_clip(tmp_path_factory.mktemp("long") / "long.mp4", photo("astronaut"), frames=150)


async def test_results_carry_stage_timings_and_batches_are_formed(tmp_path, clips, nudenet_path):
    model = AutoModel.from_pretrained(nudenet_path)
    out = tmp_path / "r.jsonl"
    sources = [FileSource(name, path) for name, path in clips.items()]
    pipeline = Pipeline(model, sources, [JsonlSink(out)], PipelineOptions(max_batch=4, max_delay_ms=50))
    report = await pipeline.run()
    assert report.results == 42 and report.failed_batches == 0
    assert report.batches < 42  # frames really were batched
    for record in map(json.loads, out.read_text().splitlines()):
        t = record["timing_ms"]
        assert t["total"] >= t["queue"] >= 0 and t["infer"] > 0 and t["pre_process"] > 0


async def test_static_batch_package_gets_full_padded_batches(tmp_path, clips, golden_dir):
    model = AutoModel.from_pretrained(golden_dir / "models" / "yolo11n-b4.onnx")
    out = tmp_path / "r.jsonl"
    pipeline = Pipeline(
        model, [FileSource("c", clips["coffee"])], [JsonlSink(out)], PipelineOptions(max_batch=2, max_delay_ms=5000)
    )
    assert pipeline.batch_size == 4  # the package's static batch wins over max_batch
    report = await pipeline.run()
    assert report.results == 18 and report.batches == 5  # 4+4+4+4+2, the last one padded


async def test_request_stop_keeps_every_result_already_read(tmp_path, long_clip, nudenet_path):
    model = AutoModel.from_pretrained(nudenet_path)
    out = tmp_path / "r.jsonl"
    pipeline = Pipeline(model, [FileSource("a", long_clip)], [JsonlSink(out)])
    run = asyncio.create_task(pipeline.run())
    while not out.exists() or not out.read_text():
        await asyncio.sleep(0.02)
    pipeline.request_stop()
    report = await asyncio.wait_for(run, 10)
    seqs = [json.loads(line)["seq"] for line in out.read_text().splitlines()]
    assert 0 < len(seqs) < 150
    assert seqs == list(range(len(seqs)))  # in order, none lost before the stop
    assert report.sources["a"].frames_in == report.results == len(seqs)


def test_sigterm_drains_and_exits_0(tmp_path, long_clip, nudenet_path):
    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "run", "--model", str(nudenet_path), "--source", str(long_clip), "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while (not out.exists() or not out.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    seqs = [json.loads(line)["seq"] for line in out.read_text().splitlines()]
    assert 0 < len(seqs) < 150 and seqs == list(range(len(seqs)))


class FailingSixthCall:
    """The real model, except that its sixth forward call raises, as a backend error would."""

    def __init__(self, model):
        self._model, self.calls = model, 0
        self.model_id, self.class_names, self.batch = model.model_id, model.class_names, model.batch
        self.pre_process, self.post_process = model.pre_process, model.post_process

    def forward(self, batch):
        self.calls += 1
        if self.calls == 6:
            raise RuntimeError("simulated backend failure")
        return self._model.forward(batch)


async def test_a_failing_batch_is_logged_and_skipped_the_rest_continue(tmp_path, clips, nudenet_path, caplog):
    model = FailingSixthCall(AutoModel.from_pretrained(nudenet_path))
    out = tmp_path / "r.jsonl"
    pipeline = Pipeline(model, [FileSource("a", clips["coffee"])], [JsonlSink(out)], PipelineOptions(max_batch=1))
    report = await pipeline.run()
    seqs = [json.loads(line)["seq"] for line in out.read_text().splitlines()]
    assert report.failed_batches == 1
    assert seqs == [s for s in range(18) if s != 5]  # one source, batch 1: call 6 is frame 5
    assert "inference failed for frames a#5: simulated backend failure" in caplog.text
