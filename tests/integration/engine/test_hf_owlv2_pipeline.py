"""A prompted OWLv2 detector runs in the pipeline like any detector: batched, every frame's
detections equal to running the detector on that frame alone."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from tests.support.tiny_hf import build_owlv2
from vigil.engine import AutoModel
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.sinks import JsonlSink
from vigil.sources import FileSource

PROMPTS = ["a person", "a red car", "a cup of coffee"]


@pytest.fixture(scope="module")
def owl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_owlv2(tmp_path_factory.mktemp("owl") / "tiny-owlv2")


async def test_prompted_owlv2_in_the_pipeline_equals_the_detector_alone(tmp_path: Path, clips: dict, owl_dir: Path) -> None:
    detector = AutoModel.from_pretrained(owl_dir, prompts=PROMPTS, confidence=0.75)
    out = tmp_path / "r.jsonl"
    pipeline = Pipeline(
        detector, [FileSource("coffee", clips["coffee"])], [JsonlSink(out)], PipelineOptions(max_batch=4, max_delay_ms=50)
    )
    report = await pipeline.run()
    records = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda r: r["seq"])
    with av.open(str(clips["coffee"])) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert report.results == len(records) == len(frames) == 18 and report.failed_batches == 0
    assert report.batches < 18  # frames were batched
    assert any(r["detections"] for r in records)
    for record, alone in zip(records, detector(frames)):
        got = record["detections"]
        assert [d["class_name"] for d in got] == [PROMPTS[i] for i in alone.class_id]
        np.testing.assert_allclose([d["confidence"] for d in got], alone.confidence, atol=1e-5)
        np.testing.assert_allclose(np.reshape([d["xyxy"] for d in got], (-1, 4)), alone.xyxy, atol=1e-2)
