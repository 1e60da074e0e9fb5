"""An embedding model as a cascade (issue 31's re-linking by appearance): a tiny random-weight
CLIP `hf` package on the face crops of a real clip, through the YAML, the real pipeline and the
real detector. Each tracked detection carries its track's appearance: the normalised mean of
what CLIP gives on the crops the cascade ran on so far, equal to the model run directly on the
same crops of the same decoded frames; records give the dimension, not the vector. A line's
relink_appearance without an embedding cascade is refused, at its line or at load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.integration.stages.test_cascades import FACES, TRACKING, cascade_of, decoded, run_config, selected
from tests.integration.stages.test_tracking import face_clip
from tests.support.tiny_hf import build_clip
from vigil.config.loader import parse_config
from vigil.engine import AutoModel, Detections, EmbeddingModel, attached, check_secondary, crop, run_secondary
from vigil.errors import ConfigError

TOL = 1e-4


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("embed-faces") / "face.mp4", shown=[range(24)])


def config(nudenet: Path, clip: Path, video: Path, out: Path) -> str:
    return f"""models:
  faces: {{path: {nudenet}}}
  look: {{path: {clip}}}
sources:
  - name: cam
    url: {video}
    models: [faces]
    tracking: {TRACKING}
    cascades:
      - {{model: look, classes: {FACES}, every: detection}}
    lines:
      - {{name: door, start: [0.5, 0], end: [0.5, 1], relink_appearance: 0.8}}
sinks:
  - {{kind: jsonl, path: {out}}}
"""


async def test_each_track_carries_the_mean_of_its_crops_embeddings(nudenet_path, clip_dir, faces, tmp_path):
    out = tmp_path / "out.jsonl"
    run = await run_config(config(nudenet_path, clip_dir, faces, out))
    model = AutoModel.from_pretrained(clip_dir)
    assert isinstance(model, EmbeddingModel) and check_secondary(model, "look") == "embedding"
    frames = decoded(faces)
    sums: dict[int, np.ndarray] = {}
    runs: dict[int, int] = {}
    checked = 0
    try:
        for result in run.results:
            dets = result.detections
            assert isinstance(dets, Detections)
            rule = cascade_of(run, "cam").rule
            image = frames[result.frame.seq]
            outputs = attached(dets)
            for i in selected(rule, result):
                tid = int(dets.tracker_id[i]) if dets.tracker_id is not None else -1
                if tid < 0:
                    continue
                (direct,) = model.embed_images([crop(image, dets.xyxy[i], rule.pad)])
                sums[tid] = sums.get(tid, 0) + direct
                runs[tid] = runs.get(tid, 0) + 1
                look = outputs[i]["look"]
                assert look.kind == "embedding" and look.fresh and look.runs == runs[tid]
                expected = sums[tid] / np.linalg.norm(sums[tid])
                assert look.vector is not None and abs(float(np.linalg.norm(look.vector)) - 1.0) < 1e-5
                assert np.abs(look.vector - expected).max() < TOL, (result.frame.seq, i)
                checked += 1
    finally:
        model.close()
    assert checked >= 10 and len(sums) >= 1
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    looks = [d["attached"]["look"] for r in lines for d in r.get("detections", []) if "look" in d.get("attached", {})]
    assert looks and all(a["kind"] == "embedding" and a["dimension"] == model.dimension for a in looks)
    assert all("vector" not in a for a in looks)


def test_run_secondary_gives_the_models_normalised_embedding_per_crop(clip_dir):
    model = AutoModel.from_pretrained(clip_dir)
    try:
        crops = [np.full((40, 30, 3), v, np.uint8) for v in (0, 90, 200)]
        outputs = run_secondary(model, crops, "look")
        direct = model.embed_images(crops)
        assert [o.kind for o in outputs] == ["embedding"] * 3
        assert np.abs(np.stack([o.vector for o in outputs]) - direct).max() < 1e-5
        assert outputs[0].to_json()["dimension"] == model.dimension
    finally:
        model.close()


def test_relink_appearance_without_a_cascade_is_refused_at_its_line(nudenet_path, faces, tmp_path):
    text = config(nudenet_path, Path("unused"), faces, tmp_path / "out.jsonl")
    text = text.replace("    cascades:\n      - {model: look, classes: [FACE_FEMALE, FACE_MALE], every: detection}\n", "")
    text = text.replace("  look: {path: unused}\n", "")
    with pytest.raises(ConfigError, match=r"line 9: sources\[0\]\.lines\[0\]\.relink_appearance: re-linking by appearance"):
        parse_config(text, "cam.yaml", {})


async def test_relink_appearance_with_no_embedding_cascade_is_refused_at_load(nudenet_path, faces, golden_dir, tmp_path):
    classifier = golden_dir / "models" / "yolov8n-cls.onnx"
    text = config(nudenet_path, classifier, faces, tmp_path / "out.jsonl")
    with pytest.raises(ConfigError, match="source 'cam' line 'door': relink_appearance needs an embedding model"):
        await run_config(text)
