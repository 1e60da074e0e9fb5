"""The README's Python snippet runs as written (on the model and photo it names) and finds what
it says it finds."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2

from tests.conftest import photo

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_python_snippet_finds_the_astronauts_face(tmp_path, nudenet_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    shutil.copy(nudenet_path, tmp_path / "320n.onnx")
    cv2.imwrite(str(tmp_path / "astronaut.jpg"), photo("astronaut"))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    faces = scope["faces"]
    assert len(faces) == 1 and set(faces.class_name) <= {"FACE_FEMALE", "FACE_MALE"}
    x1, y1, x2, y2 = faces.xyxy[0]
    assert 150 < (x1 + x2) / 2 < 250 and 50 < (y1 + y2) / 2 < 150  # the astronaut's face, upper middle
    assert len(scope["sv_detections"]) == 1


def test_the_readme_yaml_example_is_a_valid_configuration(tmp_path):
    from vigil.config.loader import read_config

    block, *others = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    path = tmp_path / "vigil.yaml"
    path.write_text("model:\n  path: m.onnx\n" + block)
    config = read_config(path).config
    assert [s.name for s in config.sinks] == ["jsonl", "alerts"]
    assert config.sources[0].sinks == ["jsonl", "alerts"] and config.sources[0].kind == "rtsp"
    cascades = [text for text in others if "cascades:" in text]
    assert len(cascades) == 2  # the detector + classifier and the plate-style OCR cascade
    for text in cascades:
        path.write_text(text if "sinks:" in text else text + "sinks: [{kind: jsonl, path: r.jsonl}]\n")
        config = read_config(path).config
        [source] = config.sources
        assert len(config.models) == 2 and config.models_of(source) and source.cascades
        assert source.needs_tracking and config.cascade_models() == [source.cascades[0].model]
    [zero_shot] = [text for text in others if "prompts:" in text]
    path.write_text(zero_shot + "sinks: [{kind: jsonl, path: r.jsonl}]\n")
    config = read_config(path).config
    assert [config.model_entries()[config.models_of(s)[0]].prompts for s in config.sources] == [
        ["a person", "a dog"],
        ["a delivery van", "a bicycle"],
    ]
    assert config.search is not None and config.search.model.endswith("clip")
    brokers = [text for text in others if "kind: mqtt" in text or "kind: nats" in text]
    assert len(brokers) == 2  # MQTT with Home Assistant, NATS JetStream
    for text, kind in zip(brokers, ("mqtt", "nats")):
        for name in ("mqtt-password", "nats-password"):  # the files the examples name, made here
            text = text.replace(f"/etc/vigil/{name}", str(tmp_path / name))
            (tmp_path / name).write_text("a-password-for-the-test\n")
        path.write_text("model:\n  path: m.onnx\nsources: [{name: cam, url: a.mp4}]\n" + text)
        [sink] = read_config(path).config.sinks
        assert sink.kind == kind and list(sink.records) == ["events"]
