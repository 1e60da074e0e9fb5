"""`sources[].inputs` (a camera's streams with roles, Frigate's shape): what loads, what is refused
with which message at which line, how passwords and password files work for each input, and what
the camera factory makes of it (the detect input decoded, a record input of its own)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vigil.clips import ClipRecorder
from vigil.config.inputs import url_of
from vigil.config.loader import load_config, parse_config
from vigil.config.sources import RtspSourceConfig
from vigil.errors import ConfigError
from vigil.redact import mask_config, mask_url
from vigil.sources.kinds import SourceContext, make_rtsp_source
from vigil.sources.record import RecordInput


def yaml(source: str) -> str:
    return f"model:\n  path: m.onnx\nsources:\n  - name: cam\n{source}sinks:\n  - kind: jsonl\n    path: out.jsonl\n"


TWO = (
    "    inputs:\n"
    "      - {url: 'rtsp://viewer:hunter2@10.0.0.5/sub', roles: [detect]}\n"
    "      - {url: 'rtsp://viewer:hunter2@10.0.0.5/main', roles: [record]}\n"
    "    clips: {directory: /tmp/clips}\n"
)


def test_a_camera_with_a_substream_for_detect_and_a_main_stream_for_record_loads_as_rtsp():
    [config] = parse_config(yaml(TWO), "t.yaml", {}).sources
    assert isinstance(config, RtspSourceConfig) and config.url is None  # the kind inferred from the inputs
    assert config.inputs is not None and [i.roles for i in config.inputs] == [["detect"], ["record"]]
    assert url_of(config) == "rtsp://viewer:hunter2@10.0.0.5/sub"
    masked = mask_config(config.model_dump(mode="json", exclude_unset=True))
    assert "hunter2" not in str(masked) and masked["inputs"][1]["url"] == "rtsp://viewer:***@10.0.0.5/main"


def test_one_input_with_both_roles_is_a_camera_url_without_clips_needed():
    source = "    inputs:\n      - {url: 'rtsp://10.0.0.5/s1', roles: [detect, record]}\n"
    [config] = parse_config(yaml(source), "t.yaml", {}).sources
    assert isinstance(config, RtspSourceConfig) and url_of(config) == "rtsp://10.0.0.5/s1"


def inputs(*items: str, extra: str = "    clips: {directory: /tmp/clips}\n") -> str:
    return "    inputs:\n" + "".join(f"      - {item}\n" for item in items) + extra


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            inputs("{url: 'rtsp://h/sub', roles: [record]}"),
            r"line 5: sources\[0\].inputs: no input has the detect role; give exactly one input roles: \[detect\]",
        ),
        (
            inputs("{url: 'rtsp://h/sub', roles: [detect]}", "{url: 'rtsp://h/main', roles: [detect]}"),
            r"line 7: sources\[0\].inputs\[1\].roles: inputs.0 has the detect role already; one input is decoded for the model",
        ),
        (
            inputs("{url: 'rtsp://h/sub', roles: [detect, record]}", "{url: 'rtsp://h/main', roles: [record]}"),
            r"line 7: sources\[0\].inputs\[1\].roles: inputs.0 has the record role already; one input feeds the event clips",
        ),
        (
            inputs("{url: 'rtsp://h/sub', roles: [detect]}", "{url: 'rtsp://h/main', roles: [record]}", extra=""),
            r"line 7: sources\[0\].inputs\[1\].roles: a record input feeds the event clips, and this camera has no clips: "
            r"add clips: \{directory: \.\.\.\} or drop the record input",
        ),
        (
            inputs("{url: 'rtsp://h/sub', roles: [detect]}", "{url: 'rtsp://h/sub', roles: [record]}"),
            r"sources\[0\].inputs\[1\].url: inputs.0 has the same url; give one input with roles: \[detect, record\] instead",
        ),
        (
            inputs("{url: 'rtsp://h/sub', roles: [detect, detect]}"),
            r"line 6: sources\[0\].inputs\[0\].roles: role 'detect' is listed twice",
        ),
        (
            inputs("{url: 'rtsp://h/sub', roles: [watch]}"),
            r"sources\[0\].inputs\[0\].roles\[0\]: Input should be 'detect' or 'record'",
        ),
        (
            inputs("{url: 'rtsp://h/sub', roles: []}"),
            r"sources\[0\].inputs\[0\].roles: List should have at least 1 item",
        ),
        (
            "    kind: rtsp\n" + inputs("{url: /videos/a.mp4, roles: [detect]}"),
            r"sources\[0\].inputs\[0\].url: an input's url starts with rtsp:// or rtsps://",
        ),
        (
            "    kind: rtsp\n" + inputs("{url: 'rtsp://:hunter2@/sub', roles: [detect]}"),
            r"sources\[0\].inputs\[0\].url: the rtsp:// URL has no host",
        ),
        (
            "    url: rtsp://h/s1\n" + inputs("{url: 'rtsp://h/sub', roles: [detect]}"),
            r"sources\[0\].inputs: give url: or inputs:, not both",
        ),
        (
            "    kind: rtsp\n",
            r"sources\[0\].url: this source has no url; give url: \.\.\. or inputs: \[\{url, roles: \[detect\]\}",
        ),
        (
            "    url: /videos/a.mp4\n" + inputs("{url: 'rtsp://h/sub', roles: [detect]}"),
            r"sources\[0\].inputs: 'inputs' is a setting of rtsp sources; this is a file source",
        ),
        (
            "    password_file: /etc/pw\n" + inputs("{url: 'rtsp://viewer@h/sub', roles: [detect]}"),
            r"line 5: sources\[0\].password_file: with inputs:, give password_file on each input whose URL needs it",
        ),
        (
            inputs("{url: 'rtsp://h/sub', roles: [detect], password_file: /etc/pw}"),
            r"sources\[0\].inputs\[0\].password_file: password_file needs the user in this input's URL",
        ),
        (
            inputs(*[f"{{url: 'rtsp://h/{n}', roles: [detect]}}" for n in range(5)]),
            r"sources\[0\].inputs: List should have at most 4 items",
        ),
    ],
)
def test_bad_inputs_are_refused_naming_the_key_and_what_to_do(source, expected):
    with pytest.raises(ConfigError, match=expected) as info:
        parse_config(yaml(source), "t.yaml", {})
    assert "hunter2" not in str(info.value)


def test_each_input_password_file_is_read_at_load_and_a_missing_one_is_named(tmp_path):
    source = inputs(
        "{url: 'rtsp://viewer@h/sub', roles: [detect]}",
        f"{{url: 'rtsp://viewer@h/main', roles: [record], password_file: {tmp_path / 'missing'}}}",
    )
    path = tmp_path / "vigil.yaml"
    path.write_text(yaml(source))
    with pytest.raises(ConfigError, match=r"line 7: sources\[0\].inputs\[1\].password_file: .*missing: no such file"):
        load_config(path, environ={})


def camera(tmp_path: Path, source: str) -> tuple[RtspSourceConfig, ClipRecorder]:
    [config] = parse_config(yaml(source), "t.yaml", {}).sources
    assert isinstance(config, RtspSourceConfig) and config.clips is not None
    return config, ClipRecorder(config.name, config.clips)


def test_the_factory_decodes_the_detect_input_and_demuxes_the_record_input_with_its_own_password(tmp_path):
    (tmp_path / "sub.pw").write_text("s3cret-sub\n")
    (tmp_path / "main.pw").write_text("p@ss/main\n")
    config, clips = camera(
        tmp_path,
        inputs(
            f"{{url: 'rtsp://viewer@10.0.0.5/sub', roles: [detect], password_file: {tmp_path / 'sub.pw'}}}",
            f"{{url: 'rtsp://admin@10.0.0.5:8554/main', roles: [record], password_file: {tmp_path / 'main.pw'}}}",
            extra=f"    clips: {{directory: {tmp_path}}}\n    reconnect: {{initial_s: 0.25, jitter: 0.1}}\n",
        ),
    )
    source = make_rtsp_source(config, SourceContext(clips=clips))
    assert source.url == "rtsp://viewer:s3cret-sub@10.0.0.5/sub" and not source.feeds_clips
    record = source.record
    assert isinstance(record, RecordInput) and record.clips is clips and record.feeds_clips
    assert record.url == "rtsp://admin:p%40ss%2Fmain@10.0.0.5:8554/main" and record.index == 1
    assert record.reconnect == source.reconnect and record.reconnect.initial_s == 0.25  # the same policy and jitter
    assert clips.origin == {"input": "record", "index": 1, "url": mask_url("rtsp://admin@10.0.0.5:8554/main")}
    reported = source.inputs
    assert [(i.index, i.roles, i.state.value) for i in reported] == [
        (0, ("detect",), "connecting"),
        (1, ("record",), "connecting"),
    ]
    assert "s3cret" not in str(reported) and "p%40ss" not in str(reported)


def test_one_input_with_both_roles_feeds_the_clips_itself_and_they_name_it(tmp_path):
    config, clips = camera(
        tmp_path,
        inputs("{url: 'rtsp://viewer:pw@10.0.0.5/s1', roles: [record, detect]}", extra=f"    clips: {{directory: {tmp_path}}}\n"),
    )
    source = make_rtsp_source(config, SourceContext(clips=clips))
    assert source.record is None and source.feeds_clips and source.input_index == 0
    assert clips.origin == {"input": "record", "index": 0, "url": "rtsp://viewer:***@10.0.0.5/s1"}
    assert [i.roles for i in source.inputs] == [("detect", "record")]


def test_the_readmes_camera_with_a_substream_and_a_main_stream_is_a_valid_configuration(tmp_path):
    readme = Path(__file__).resolve().parents[3] / "README.md"
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", readme.read_text(encoding="utf-8"), re.S) if "inputs:" in b]
    (tmp_path / "driveway.password").write_text("pw\n")
    text = block.replace("/etc/vigil/driveway.password", str(tmp_path / "driveway.password"))
    path = tmp_path / "vigil.yaml"
    path.write_text("model:\n  path: m.onnx\n" + text + "sinks: [{kind: jsonl, path: r.jsonl}]\n")
    [source] = load_config(path, environ={}).sources
    assert isinstance(source, RtspSourceConfig) and source.inputs is not None and source.clips is not None
    assert [i.roles for i in source.inputs] == [["detect"], ["record"]]
