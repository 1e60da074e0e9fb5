"""`sources:` as a union of kinds: inferred from the URL when `kind` is absent, each kind with only
its own keys, errors naming the key and the line; `stages:` validated through the registry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vigil.config import SourceConfig
from vigil.config.daemon import DaemonConfig
from vigil.config.loader import parse_config
from vigil.config.sources import FileSourceConfig, RtspSourceConfig, WebcamSourceConfig
from vigil.errors import ConfigError
from vigil.stages.registry import STAGES


def yaml(source: str) -> str:
    return f"model:\n  path: m.onnx\nsources:\n  - name: cam\n{source}sinks:\n  - kind: jsonl\n    path: out.jsonl\n"


@pytest.mark.parametrize(
    "source, kind",
    [
        ("    url: clip.mp4\n    realtime: true\n    loop: true\n", FileSourceConfig),
        ("    url: file:///videos/clip.mp4\n", FileSourceConfig),
        ("    url: rtsp://10.0.0.5/s1\n    transport: udp\n", RtspSourceConfig),
        ("    url: rtsps://cam.local:322/s1\n", RtspSourceConfig),
        ("    url: v4l2:/dev/video0\n    size: [1280, 720]\n    fps: 15\n", WebcamSourceConfig),
    ],
)
def test_a_source_without_kind_loads_as_the_kind_its_url_says(source, kind):
    [config] = parse_config(yaml(source), "t.yaml", {}).sources
    assert type(config) is kind and config.kind == kind.model_fields["kind"].default


def test_an_explicit_kind_loads_the_same_and_constructing_the_base_gives_the_kind():
    [config] = parse_config(yaml("    kind: rtsp\n    url: rtsp://10.0.0.5/s1\n"), "t.yaml", {}).sources
    assert isinstance(config, RtspSourceConfig) and config.transport == "tcp"
    assert isinstance(SourceConfig(name="a", url="a.mp4", realtime=True), FileSourceConfig)
    assert isinstance(SourceConfig.model_validate({"name": "a", "url": "v4l2:/dev/video2"}), WebcamSourceConfig)


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "    url: clip.mp4\n    transport: tcp\n",
            r"t.yaml: line 6: sources\[0\].transport: 'transport' is a setting of rtsp sources; this is a file source "
            r"\(inferred from its url\)",
        ),
        (
            "    url: rtsp://10.0.0.5/s1\n    loop: true\n",
            r"line 6: sources\[0\].loop: 'loop' is a setting of file sources; this is a rtsp source",
        ),
        (
            "    kind: webcam\n    url: v4l2:/dev/video0\n    password_file: /p\n",
            r"line 7: sources\[0\].password_file: 'password_file' is a setting of rtsp sources; this is a webcam source$",
        ),
        (
            "    kind: http\n    url: clip.mp4\n",
            r"line 5: sources\[0\].kind: unknown source kind 'http'; use one of file, rtsp, webcam",
        ),
        ("    kind: 5\n    url: clip.mp4\n", r"line 5: sources\[0\].kind: unknown source kind 5; use one of"),
        ("    kind: [file]\n    url: clip.mp4\n", r"line 5: sources\[0\].kind: unknown source kind \['file'\]; use one of"),
        ("    kind: file\n    url: rtsp://10.0.0.5/s1\n", r"line 4: sources\[0\]: Value error, a file source's url is a path"),
        ("    url: clip.mp4\n    colour: red\n", r"line 6: sources\[0\].colour: Extra inputs are not permitted"),
        (
            "    url: rtsp://10.0.0.5/s1\n    password_file: /p\n",
            r"line 4: sources\[0\]: Value error, password_file needs the user",
        ),
    ],
)
def test_a_key_of_another_kind_is_an_error_naming_the_key_and_line(source, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(yaml(source), "t.yaml", {})


@pytest.mark.parametrize(
    "stages, expected",
    [
        (
            "      - kind: filter\n        min_confidence: 2\n",
            r"line 8: sources\[0\].stages\[0\].min_confidence: Input should be less than or equal to 1",
        ),
        ("      - kind: filterr\n", r"line 7: sources\[0\].stages\[0\].kind: unknown stage kind 'filterr' \(known: filter"),
        ("      - classes: [person]\n", r"line 7: sources\[0\].stages\[0\].kind: missing: every stage names its kind"),
        ("      - kind: filter\n        clases: [person]\n", r"line 8: sources\[0\].stages\[0\].clases: Extra inputs"),
        ("      - filter\n", r"line 7: sources\[0\].stages\[0\]: a stage is a mapping with a kind"),
    ],
)
def test_a_bad_stage_entry_names_the_key_and_line(stages, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(yaml(f"    url: clip.mp4\n    stages:\n{stages}"), "t.yaml", {})


def test_the_schema_lists_every_source_kind_and_stage_kind():
    schema = DaemonConfig.model_json_schema()
    kinds = {entry["properties"]["kind"]["const"]: entry for entry in schema["$defs"]["SourceConfig"]["oneOf"]}
    assert set(kinds) == {"file", "rtsp", "webcam"}
    assert "transport" in kinds["rtsp"]["properties"] and "transport" not in kinds["file"]["properties"]
    assert "loop" in kinds["file"]["properties"] and "size" in kinds["webcam"]["properties"]
    stages = kinds["file"]["properties"]["stages"]["items"]["oneOf"]
    assert [s["properties"]["kind"]["const"] for s in stages] == [kind.name for kind in STAGES.kinds()]
    assert {"filter", "zones"} <= {kind.name for kind in STAGES.kinds()}
    assert "classes" in stages[0]["properties"] and "kind" in stages[0]["required"]


def test_validation_errors_never_repeat_the_url():
    with pytest.raises(ValidationError) as info:
        SourceConfig.model_validate({"name": "cam", "url": "rtsp://u:secret@[bad/s", "transport": "tcp"})
    assert "secret" not in str(info.value)


def test_a_dumped_configuration_keeps_each_source_kind_and_its_own_keys():
    config = parse_config(yaml("    url: rtsp://10.0.0.5/s1\n    transport: udp\n"), "t.yaml", {})
    dumped = config.model_dump(mode="json")
    assert dumped["sources"][0]["kind"] == "rtsp" and dumped["sources"][0]["transport"] == "udp"
    assert DaemonConfig.model_validate(dumped) == config
