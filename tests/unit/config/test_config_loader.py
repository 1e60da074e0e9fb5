"""YAML configuration files: line numbers in errors, ${VAR} substitution, the shipped example."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vigil.config.daemon import DaemonConfig
from vigil.config.loader import load_config, parse_config, read_config
from vigil.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "vigil.yaml"

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
    config = read_config(EXAMPLE, environ={}).config  # valid; the files it names exist only on a real box
    assert [s.name for s in config.sources] == ["front-door", "yard", "lobby-replay"]
    assert config.sources[0].password_file == "/etc/vigil/front-door.password"
    assert config.sources[0].reconnect.max_s == 60
    assert config.sources[1].url == "rtsp://192.168.1.21/h264"
    assert read_config(EXAMPLE, environ={"YARD_CAMERA": "10.0.0.9"}).config.sources[1].url == "rtsp://10.0.0.9/h264"
    assert config.sources[1].transport == "udp"
    assert [(s.kind, s.name) for s in config.sinks] == [("jsonl", "jsonl"), ("webhook", "alerts"), ("webhook", "everything")]
    jsonl = config.sink("jsonl")
    assert jsonl is not None and jsonl.per_source is True


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
        (
            "    url: rtsp",
            "    transport: sctp\n    url: rtsp",
            r"line 5: sources\[0\].transport: Input should be 'tcp' or 'udp'",
        ),
        ("    url: rtsp", "    max_fps: 0\n    url: rtsp", r"line 5: sources\[0\].max_fps: Input should be greater than 0"),
        (
            "  path: m.onnx\n",
            "  path: m.onnx\n  confidence: 1.5\n",
            r"line 3: model.confidence: Input should be less than or equal to 1",
        ),
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
    text = (
        MINIMAL.replace("  path: m.onnx\n", "  path: m.onnx\n  backend: onnx\n  quantization: [fp16, fp32]\n  device: cpu\n")
        + "  filter:\n    classes: [0, FACE_FEMALE]\n    min_confidence: 0.5\n    only_with_detections: true\n"
    )
    config = parse_config(text, "t.yaml", {})
    assert config.model.backend == ["onnx"] and config.model.quantization == ["fp16", "fp32"]
    assert config.model.device == "cpu"
    jsonl = config.sink("jsonl")
    assert jsonl is not None and jsonl.filter is not None
    assert jsonl.filter.classes == frozenset({0, "FACE_FEMALE"}) and jsonl.filter.only_with_detections
    with pytest.raises(
        ConfigError, match=r"line 3: model.backend\[0\]: Input should be 'trt', 'openvino', 'onnx', 'torchscript' or 'hf'"
    ):
        parse_config(MINIMAL.replace("  path: m.onnx\n", "  path: m.onnx\n  backend: tflite\n"), "t.yaml", {})
    with pytest.raises(ConfigError, match=r"line 9: jsonl.filter.cooldown: Extra inputs are not permitted"):
        parse_config(MINIMAL + "  filter:\n    cooldown: 5\n", "t.yaml", {})


def test_loading_the_example_reads_the_files_it_names():
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLE, environ={})
    assert "line 15: sources[0].password_file: /etc/vigil/front-door.password: no such file" in str(info.value)
    assert "line 41: sinks[1].secret_file: /etc/vigil/webhook.secret: no such file" in str(info.value)


BILLION_LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n" for i in range(9))


@pytest.mark.parametrize(
    "text, expected",
    [
        (MINIMAL + "batch:\n  max_batch: " + "9" * 5000 + "\n", r"line 9: batch.max_batch: a number of 5000 characters"),
        (MINIMAL + "x: " + ":".join(["1"] * 100_000) + "\n", r"line 8: x: a number of 199999 characters"),
        (MINIMAL + "batch: &r {max_batch: *r}\n", r"line 8: batch.max_batch: an alias refers to a value that contains it"),
        (MINIMAL + "batch: &r [1, *r]\n", r"line 8: batch\[1\]: an alias refers to a value that contains it"),
        (MINIMAL + "batch:\n  max_batch: !!int abc\n", r"line 9: batch.max_batch: cannot read this value as !!int"),
        (
            MINIMAL + "batch:\n  max_batch: !!timestamp 2020-13\n",
            r"line 9: batch.max_batch: cannot read this value as !!timestamp",
        ),
        (MINIMAL + "batch:\n  max_batch: !!binary 'abc'\n", r"line 9: batch.max_batch: cannot read this value as !!binary"),
        (MINIMAL + "x: !!python/name:os.system ''\n", r"line 8: x: cannot read this value as !!python/name:os.system"),
        (MINIMAL + "x: !custom 1\n", r"line 8: x: cannot read this value as !custom \(could not determine a constructor"),
        (MINIMAL + "? [a, b]\n: 1\n", r"line 8: \(top level\): a key must be a plain name"),
        (MINIMAL + "x: " + "[" * 60 + "]" * 60 + "\n", r"line 8: x(\[0\]){49}: nested more than 50 levels deep"),
        (MINIMAL + "x: " + "[" * 20_000 + "]" * 20_000 + "\n", r"nested too deeply"),
        (MINIMAL + "x: a\x00b\n", r"line 8: not valid YAML \(character #x0000 is not allowed"),
        (BILLION_LAUGHS + MINIMAL, r"line 1: l\d(\[\d\])+: the file expands to more than 100,000 values"),
    ],
    ids=[
        "5000-digits",
        "sexagesimal",
        "recursive-alias",
        "recursive-list",
        "int-tag",
        "timestamp-tag",
        "binary-tag",
        "python-tag",
        "unknown-tag",
        "complex-key",
        "deep",
        "very-deep",
        "nul",
        "billion-laughs",
    ],
)
def test_hostile_yaml_is_a_config_error_naming_the_line(text, expected):
    started = time.monotonic()
    with pytest.raises(ConfigError, match=expected):
        parse_config(text, "t.yaml", {})
    assert time.monotonic() - started < 10  # the alias bomb ran 58 s before hitting MemoryError


def test_a_value_that_cannot_be_read_is_never_echoed():
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL + "api:\n  token: !!int s3cr3t-t0ken-value\n", "t.yaml", {})
    assert "line 9: api.token" in str(info.value) and "s3cr3t" not in str(info.value)


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "vigil.yaml"
    path.write_bytes(MINIMAL.encode() + b"batch:\n  max_batch: 4\xff\n")
    with pytest.raises(ConfigError, match=r"line 9: not UTF-8 text \(byte 0xff\); save the file as UTF-8"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    "url, expected",
    [
        ("rtsp://", "has no host"),
        ("rtsp:///stream", "has no host"),
        ("rtsp://viewer:pw@/stream", "has no host"),
        ("rtsp://[::1/x", "not a valid rtsp:// URL"),
        ("rtsp://[not-ipv6]/x", "not a valid rtsp:// URL"),
        ("rtsp://cam:99999/x", "not a valid rtsp:// URL"),
        ("rtsp://cam:554x/x", "not a valid rtsp:// URL"),
        ("rtsp://cam:0/x", "has port 0"),
        ("rtsp://viewer:pa/ss@cam/x", "must be percent-encoded"),
        ("rtsp://bad host/x", "host is not a host name"),
        ("RTSP://cam/x", "'RTSP://' sources are not supported"),
        ("http://cam/x", "'http://' sources are not supported"),
    ],
)
def test_a_malformed_camera_url_is_refused_at_load(url, expected):
    text = MINIMAL.replace("rtsp://viewer:${CAM_PASSWORD:-none}@10.0.0.5/s1", f"'{url}'")
    with pytest.raises(ConfigError, match=rf"line 5: sources\[0\].url: Value error, .*{expected}") as info:
        parse_config(text, "t.yaml", {})
    assert "pw@" not in str(info.value) and "pa/ss" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://10.0.0.5/s1",
        "rtsp://viewer@cam.local:554/s1",
        "rtsps://[fe80::1%25eth0]:322/x",
        "rtsp://[::1]/x",
        "/srv/video/a.mp4",
        "file:///srv/a.mp4",
        "v4l2:/dev/video0",
        "C:/video/a.mp4",
        "relative/a b.mp4",
    ],
)
def test_good_source_urls_pass(url):
    assert parse_config(MINIMAL.replace("rtsp://viewer:${CAM_PASSWORD:-none}@10.0.0.5/s1", f"'{url}'"), "t.yaml", {})


@pytest.mark.parametrize(
    "url, expected",
    [
        # a file source has no password_file at all: the key's own line, and the kind it belongs to
        ("/srv/a.mp4", r"line 6: sources\[0\].password_file: 'password_file' is a setting of rtsp sources"),
        ("rtsp://10.0.0.5/s1", r"line 4: sources\[0\]: Value error, password_file needs the user in the URL"),
    ],
)
def test_a_password_file_needs_a_camera_url_with_a_user(url, expected):
    text = MINIMAL.replace("rtsp://viewer:${CAM_PASSWORD:-none}@10.0.0.5/s1", f"{url}\n    password_file: /pw")
    with pytest.raises(ConfigError, match=expected):
        parse_config(text, "t.yaml", {})
