"""Zero-shot detection in the daemon with prompts per camera, from the YAML: two `models:` entries
on one tiny random-weight OWLv2 (built from its transformers config; no hub here) with different
prompts, each camera naming its own. Each camera's detections are its own prompts; a model with
prompts that is no zero-shot detector is a clear config error."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import encode_clip, photo
from tests.support.tiny_hf import build_owlv2
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.config.loader import parse_config
from vigil.daemon.assemble import load_models
from vigil.daemon.service import Daemon
from vigil.errors import ConfigError


@pytest.fixture(scope="module")
def owl_dir(tmp_path_factory):
    return build_owlv2(tmp_path_factory.mktemp("owl") / "owlv2")


async def test_each_camera_detects_its_own_prompts(owl_dir, tmp_path):
    clip = encode_clip(tmp_path / "cam.mp4", photo("astronaut"), frames=8, size=(320, 240), fps=10)
    text = f"""
models:
  yard: {{path: {owl_dir}, prompts: [a person, a dog], confidence: 0.0, max_det: 5}}
  road: {{path: {owl_dir}, prompts: [a red car, a truck, a bicycle], confidence: 0.0, max_det: 5}}
sources:
  - {{name: garden, url: {clip}, models: [yard]}}
  - {{name: street, url: {clip}, models: [road]}}
sinks:
  - {{kind: jsonl, path: {tmp_path / "r.jsonl"}}}
api: {{enabled: false}}
"""
    config = parse_config(text, "zero-shot.yaml", {})
    assert isinstance(config, DaemonConfig)
    daemon = Daemon(config, ApiConfig(enabled=False))
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_ready(), 60)
    for _ in range(300):
        lines = (
            [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
            if (tmp_path / "r.jsonl").exists()
            else []
        )
        if sum(1 for r in lines if r["source"] == "street") >= 8 and sum(1 for r in lines if r["source"] == "garden") >= 8:
            break
        await asyncio.sleep(0.1)
    yard, road = daemon.pipeline.models["yard"], daemon.pipeline.models["road"]
    assert yard.zero_shot is road.zero_shot  # one model's weights, loaded once, two prompt lists
    daemon.stop()
    await asyncio.wait_for(task, 30)
    assert yard.zero_shot.net is None  # released with the last detector using it

    names = {
        source: {d["class_name"] for r in lines if r["source"] == source for d in r["detections"]}
        for source in ("garden", "street")
    }
    assert names["garden"] and names["garden"] <= {"a person", "a dog"}
    assert names["street"] and names["street"] <= {"a red car", "a truck", "a bicycle"}


async def test_prompts_on_a_model_that_is_no_zero_shot_detector_are_refused(nudenet_path, tmp_path):
    text = f"""
models:
  faces: {{path: {nudenet_path}, prompts: [a face]}}
sources: [{{name: cam, url: {tmp_path / "none.mp4"}}}]
sinks: [{{kind: jsonl, path: {tmp_path / "r.jsonl"}}}]
"""
    with pytest.raises(ConfigError, match="has prompts, but it is a .* not a zero-shot detector"):
        await load_models(parse_config(text, "bad.yaml", {}))


def test_an_empty_or_repeated_prompt_is_a_line_numbered_config_error(tmp_path):
    text = f"""models:
  owl: {{path: m, prompts: [a car, " a car "]}}
sources: [{{name: cam, url: x.mp4}}]
sinks: [{{kind: jsonl, path: {tmp_path / "r.jsonl"}}}]
"""
    with pytest.raises(ConfigError, match="each prompt once"):
        parse_config(text, "bad.yaml", {})


async def test_a_detector_sharing_weights_keeps_them_until_the_last_one_closes(owl_dir):
    from vigil.engine import AutoModel

    first = AutoModel.from_pretrained(str(owl_dir), prompts=["a person"])
    second = first.with_prompts(["a red car", "a truck"], 0.0)
    assert second.zero_shot is first.zero_shot and second.class_names == ("a red car", "a truck")
    image = photo("astronaut")
    before = second([image])[0]
    first.close()
    first.close()  # twice: still one user gone
    after = second([image])[0]  # the weights are still there for the other detector
    assert len(after) == len(before) and (after.xyxy == before.xyxy).all()
    second.close()
    assert first.zero_shot.net is None
