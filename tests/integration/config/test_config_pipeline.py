"""A pipeline assembled from a YAML config, as `vigil run CONFIG` builds it: the model section's
package preferences and a sink's `filter:` reach the real model and the real JSONL file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigil.config.loader import parse_config
from vigil.daemon.assemble import build_pipeline
from vigil.errors import VigilError


def config_text(nudenet: Path, clips: dict[str, Path], out: Path, *, model_extra: str = "", sink_extra: str = "") -> str:
    return (
        f"model:\n  path: {nudenet}\n{model_extra}"
        f"sources:\n  - name: astronaut\n    url: {clips['astronaut']}\n  - name: coffee\n    url: {clips['coffee']}\n"
        f"sinks:\n  - kind: jsonl\n    path: {out}\n"
        + sink_extra.replace("\n  ", "\n    ").replace("  filter:", "    filter:", 1)
    )


async def run(text: str) -> list[dict]:
    config = parse_config(text, "t.yaml", {})
    pipeline = await build_pipeline(config)
    await pipeline.run()
    jsonl = config.sink("jsonl")
    assert jsonl is not None
    return [json.loads(line) for line in Path(jsonl.path).read_text().splitlines()]


async def test_a_sink_filter_from_yaml_keeps_only_the_named_classes_and_frames(tmp_path, clips, nudenet_path):
    everything = await run(config_text(nudenet_path, clips, tmp_path / "all.jsonl", model_extra="  backend: onnx\n"))
    filtered = await run(
        config_text(
            nudenet_path,
            clips,
            tmp_path / "faces.jsonl",
            sink_extra="  filter:\n    classes: [FACE_FEMALE]\n    min_confidence: 0.5\n    only_with_detections: true\n",
        )
    )

    def faces(record: dict) -> list[dict]:
        return [d for d in record["detections"] if d["class_name"] == "FACE_FEMALE" and d["confidence"] >= 0.5]

    expected = [(r["source"], r["seq"], len(faces(r))) for r in everything if faces(r)]
    assert len(everything) == 24 + 18 and any(not faces(r) for r in everything)  # the coffee has no face
    assert 0 < len(expected) < len(everything)
    assert sorted((r["source"], r["seq"], len(r["detections"])) for r in filtered) == sorted(expected)
    assert all(d["class_name"] == "FACE_FEMALE" for r in filtered for d in r["detections"])


async def test_a_model_backend_nothing_here_provides_is_refused_with_the_reason(tmp_path, clips, nudenet_path):
    text = config_text(nudenet_path, clips, tmp_path / "out.jsonl", model_extra="  backend: trt\n")
    with pytest.raises(VigilError, match=r"package onnx: backend .onnx. not among the requested \[.trt.\]"):
        await run(text)
