"""`sources[].clips`: bad settings are config errors naming the key and the YAML line; a source
with clips is tracked and gets a zones stage (its objects' starts and ends delimit the clips)."""

from __future__ import annotations

import pytest

from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_clips, tracking_spec, with_zones
from vigil.errors import ConfigError


def yaml(source: str) -> str:
    return f"model:\n  path: m.onnx\nsources:\n  - name: cam\n    url: clip.mp4\n{source}sinks:\n  - kind: jsonl\n    path: out.jsonl\n"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("    clips:\n      pre_roll_s: 2\n", r"line 6: sources\[0\].clips.directory: Field required"),
        (
            "    clips:\n      directory: c\n      pre_roll_s: 61\n",
            r"line 8: sources\[0\].clips.pre_roll_s: Input should be less than or equal to 60",
        ),
        (
            "    clips:\n      directory: c\n      post_roll_s: -1\n",
            r"line 8: sources\[0\].clips.post_roll_s: Input should be greater than or equal to 0",
        ),
        (
            "    clips:\n      directory: c\n      max_open: 0\n",
            r"line 8: sources\[0\].clips.max_open: Input should be greater than or equal to 1",
        ),
        (
            "    clips:\n      directory: c\n      buffer_mb: 0.5\n",
            r"line 8: sources\[0\].clips.buffer_mb: Input should be greater than or equal to 1",
        ),
        ("    clips:\n      directory: c\n      pre_rol_s: 1\n", r"sources\[0\].clips.pre_rol_s: Extra inputs are not permitted"),
    ],
)
def test_bad_clip_settings_name_the_key_and_line(source, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(yaml(source), "t.yaml", {})


def test_a_source_with_clips_only_is_tracked_and_gets_a_zones_stage_without_zones():
    [source] = parse_config(yaml("    clips: {directory: c}\n"), "t.yaml", {}).sources
    tracking = tracking_spec(source)
    assert tracking is not None
    specs = with_zones([tracking], source)
    assert [spec.kind for spec in specs] == ["tracking", "zones"]
    assert not specs[1].config.zones and not specs[1].config.lines
    recorder = make_clips(source)
    assert recorder is not None and recorder.config.pre_roll_s == 5 and recorder.config.max_open == 4


def test_a_source_whose_stages_list_zones_gets_no_second_zones_stage():
    text = yaml("    clips: {directory: c}\n    stages:\n      - {kind: zones, lost_s: 1}\n")
    [source] = parse_config(text, "t.yaml", {}).sources
    specs = with_zones([tracking_spec(source), *source.stages], source)
    assert [spec.kind for spec in specs] == ["tracking", "zones"] and specs[1].config.lost_s == 1


def test_a_source_without_clips_has_no_recorder():
    [source] = parse_config(yaml(""), "t.yaml", {}).sources
    assert make_clips(source) is None and tracking_spec(source) is None
