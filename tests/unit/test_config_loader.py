"""YAML configuration files: line numbers in errors, ${VAR} substitution, the shipped example."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.config.daemon import DaemonConfig
from vigil.config.loader import load_config, parse_config
from vigil.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vigil.yaml"

MINIMAL = """\
model:
  path: m.onnx
sources:
  - name: cam
    url: rtsp://viewer:${CAM_PASSWORD:-none}@10.0.0.5/s1
jsonl:
  path: out.jsonl
"""


def test_the_shipped_example_is_valid():
    config = load_config(EXAMPLE, environ={})
    assert [s.name for s in config.sources] == ["front-door", "yard", "lobby-replay"]
    assert config.sources[0].password_file == "/etc/vigil/front-door.password"
    assert config.sources[0].reconnect.max_s == 60
    assert config.sources[1].url == "rtsp://192.168.1.21/h264"
    assert load_config(EXAMPLE, environ={"YARD_CAMERA": "10.0.0.9"}).sources[1].url == "rtsp://10.0.0.9/h264"
    assert config.sources[1].transport == "udp" and config.jsonl is not None and config.jsonl.per_source


def test_variables_are_substituted_with_defaults():
    config = parse_config(MINIMAL, "t.yaml", {})
    assert config.sources[0].url == "rtsp://viewer:none@10.0.0.5/s1"
    assert parse_config(MINIMAL, "t.yaml", {"CAM_PASSWORD": "pw"}).sources[0].url.startswith("rtsp://viewer:pw@")


def test_a_missing_variable_names_the_key_and_the_line():
    text = MINIMAL.replace("${CAM_PASSWORD:-none}", "${CAM_PASSWORD}")
    with pytest.raises(ConfigError, match=r"t.yaml line 5: sources\[0\].url uses \$\{CAM_PASSWORD\}, which is not set"):
        parse_config(text, "t.yaml", {})


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("batch:\n  max_batchh: 4\n", r"line 9: batch.max_batchh: Extra inputs are not permitted"),
        ("batch:\n  max_batch: 0\n", r"line 9: batch.max_batch: Input should be greater than or equal to 1"),
        ("api:\n  host: 0.0.0.0\n", r"line 8: api: Value error, the API listens on 0.0.0.0, off loopback"),
        ("api:\n  port: 70000\n", r"line 9: api.port: Input should be less than or equal to 65535"),
        ("logging:\n  level: LOUD\n", r"line 9: logging.level: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("webhook:\n  url: ftp://x\n  spool_dir: s\n", r"line 9: webhook.url: String should match pattern"),
        ("shutdown_timeout_s: soon\n", r"line 8: shutdown_timeout_s: Input should be a valid number"),
        ("jsonl2:\n  path: x\n", r"line 8: jsonl2: Extra inputs are not permitted"),
    ],
)
def test_validation_errors_name_the_key_and_its_line(extra, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(MINIMAL + extra, "t.yaml", {})


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("  - name: cam\n", "  - name: 'bad name'\n", r"line 4: sources\[0\].name: String should match pattern"),
        ("    url: rtsp", "    transport: sctp\n    url: rtsp", r"line 5: sources\[0\].transport: Input should be 'tcp' or 'udp'"),
        ("    url: rtsp", "    max_fps: 0\n    url: rtsp", r"line 5: sources\[0\].max_fps: Input should be greater than 0"),
        ("  path: m.onnx\n", "  path: m.onnx\n  confidence: 1.5\n", r"line 3: model.confidence: Input should be less than or equal to 1"),
        ("sources:\n", "sources: []\nx:\n", r"line 3: sources: List should have at least 1 item"),
        ("jsonl:\n  path: out.jsonl\n", "", r"no sink: configure at least one"),
    ],
)
def test_source_and_model_errors_name_the_key_and_its_line(old, new, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(MINIMAL.replace(old, new, 1), "t.yaml", {})


def test_broken_yaml_and_duplicate_keys_name_the_line():
    with pytest.raises(ConfigError, match=r"t.yaml line 3: not valid YAML \(expected"):
        parse_config("model:\n  path: [unclosed\n", "t.yaml", {})
    with pytest.raises(ConfigError, match=r"line 3: key 'path' appears twice"):
        parse_config("model:\n  path: a\n  path: b\n", "t.yaml", {})
    with pytest.raises(ConfigError, match="empty"):
        parse_config("", "t.yaml", {})


def test_every_field_is_described_in_the_schema():
    schema = DaemonConfig.model_json_schema()

    def undescribed(node: dict, path: str = "") -> list[str]:
        missing = []
        for name, prop in node.get("properties", {}).items():
            if "description" not in prop:
                missing.append(f"{path}{name}")
        return missing

    missing = undescribed(schema) + [m for d in schema.get("$defs", {}).values() for m in undescribed(d, "…")]
    assert missing == []


def test_a_source_naming_a_sink_that_is_not_configured_is_an_error():
    text = MINIMAL.replace("    url: rtsp", "    sinks: [jsonl, webhook]\n    url: rtsp")
    with pytest.raises(ConfigError, match="source 'cam' sends to webhook, which is not configured"):
        parse_config(text, "t.yaml", {})
    assert parse_config(text.replace(", webhook", ""), "t.yaml", {}).sources[0].sinks == ["jsonl"]


def test_model_preferences_take_one_value_or_a_list_and_sinks_take_filters():
    text = MINIMAL.replace(
        "  path: m.onnx\n", "  path: m.onnx\n  backend: onnx\n  quantization: [fp16, fp32]\n  device: cpu\n"
    ) + "  filter:\n    classes: [0, FACE_FEMALE]\n    min_confidence: 0.5\n    only_with_detections: true\n"
    config = parse_config(text, "t.yaml", {})
    assert config.model.backend == ["onnx"] and config.model.quantization == ["fp16", "fp32"]
    assert config.model.device == "cpu"
    assert config.jsonl is not None and config.jsonl.filter is not None
    assert config.jsonl.filter.classes == frozenset({0, "FACE_FEMALE"}) and config.jsonl.filter.only_with_detections
    with pytest.raises(ConfigError, match=r"line 3: model.backend\[0\]: Input should be 'trt' or 'onnx'"):
        parse_config(MINIMAL.replace("  path: m.onnx\n", "  path: m.onnx\n  backend: tflite\n"), "t.yaml", {})
    with pytest.raises(ConfigError, match=r"line 9: jsonl.filter.cooldown: Extra inputs are not permitted"):
        parse_config(MINIMAL + "  filter:\n    cooldown: 5\n", "t.yaml", {})
