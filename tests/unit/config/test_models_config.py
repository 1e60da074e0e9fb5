"""`models:` (several named models), `sources[].models` and `sources[].cascades` (issue 18): what
loads, what is refused with its line, and what the configuration answers about them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vigil.config.loader import parse_config
from vigil.errors import ConfigError

ONE_MODEL = """\
model:
  path: m.onnx
  confidence: 0.4
sources:
  - name: cam
    url: a.mp4
sinks: [{kind: jsonl, path: out.jsonl}]
"""

TWO_MODELS = """\
models:
  faces:
    path: faces.onnx
  people:
    path: people.onnx
    batch: {max_batch: 8, max_delay_ms: 25}
  cls:
    path: cls.onnx
sources:
  - name: door
    url: door.mp4
    models: faces
    cascades:
      - {model: cls, classes: [FACE_FEMALE], min_size: 24, every: 2.5}
  - name: yard
    url: yard.mp4
    models: [people, faces]
sinks: [{kind: jsonl, path: out.jsonl}]
"""


def load(text: str):
    return parse_config(text, "t.yaml", {})


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return str(caught.value)


def test_a_model_section_loads_as_one_model_named_default():
    config = load(ONE_MODEL)
    assert list(config.model_entries()) == ["default"]
    assert config.default_model() == "default"
    assert config.model.path == "m.onnx" and config.model.confidence == 0.4
    assert config.models_of(config.sources[0]) == ["default"] and config.primary_models() == ["default"]
    assert config.batch_for("default") == config.batch


def test_two_cameras_run_different_models():
    config = load(TWO_MODELS)
    door, yard = config.sources
    assert list(config.model_entries()) == ["faces", "people", "cls"]
    assert config.models_of(door) == ["faces"] and config.models_of(yard) == ["people", "faces"]
    assert config.primary_models() == ["faces", "people"] and config.cascade_models() == ["cls"]
    assert config.model.path == "faces.onnx"  # the first model
    assert config.model_entries()["people"].batch is not None


def test_a_camera_without_models_runs_the_first_one():
    config = load(TWO_MODELS.replace("    models: [people, faces]\n", ""))
    assert config.models_of(config.sources[1]) == ["faces"]
    assert config.primary_models() == ["faces"]


def test_model_and_models_together_are_refused_at_the_model_line():
    message = refused("model:\n  path: m.onnx\n" + TWO_MODELS)
    assert "line 1: model: give model: (one model) or models: (named models), not both" in message
    assert "move this model into models:" in message


def test_no_model_at_all_is_refused_saying_what_to_write():
    message = refused(ONE_MODEL.replace("model:\n  path: m.onnx\n  confidence: 0.4\n", ""))
    assert "no model: configure models: {NAME: {path: MODEL}, ...}, or model: {path: MODEL}" in message
    assert "no model:" in refused(ONE_MODEL.replace("model:\n  path: m.onnx\n  confidence: 0.4\n", "models: {}\n"))


def test_errors_inside_model_keep_their_key_and_line():
    message = refused(ONE_MODEL.replace("confidence: 0.4", "confidence: 4"))
    assert "line 3: model.confidence: Input should be less than or equal to 1" in message
    assert "line 3: model.batch: Extra inputs are not permitted" in refused(
        ONE_MODEL.replace("  confidence: 0.4\n", "  batch: {max_batch: 2}\n")
    )


def test_a_camera_naming_an_unknown_model_is_refused_with_its_line():
    message = refused(TWO_MODELS.replace("models: [people, faces]", "models: [people, plates]"))
    assert (
        "line 17: sources[1].models[1]: source 'yard' runs model 'plates', which is not configured (models: faces, people, cls)"
    ) in message


def test_a_camera_naming_a_model_twice_is_refused():
    assert "model 'people' is listed twice" in refused(TWO_MODELS.replace("[people, faces]", "[people, people]"))


def test_a_model_name_with_a_space_is_refused_with_its_line():
    text = TWO_MODELS.replace("  faces:\n    path: faces.onnx", "  bad name:\n    path: faces.onnx")
    assert "line 2: models.bad name" in refused(text)


def test_a_cascade_naming_an_unknown_model_is_refused_with_its_line():
    message = refused(TWO_MODELS.replace("{model: cls,", "{model: plates,"))
    assert (
        "line 14: sources[0].cascades[0].model: source 'door' cascade 'plates' runs model 'plates', which is "
        "not configured (models: faces, people, cls)"
    ) in message


def test_a_cascade_on_the_cameras_primary_model_is_refused_saying_why():
    message = refused(TWO_MODELS.replace("{model: cls,", "{model: faces,"))
    assert "line 14: sources[0].cascades[0].model: source 'door' cascade 'faces': 'faces' is this camera's primary" in message
    assert "a model cannot be its own secondary" in message


def test_a_cascade_may_run_a_model_another_camera_runs_on_frames():
    config = load(TWO_MODELS.replace("{model: cls,", "{model: people,"))
    assert config.sources[0].cascades[0].model == "people"
    assert config.cascade_models() == ["people"]


def test_two_cascades_with_one_name_are_refused_at_the_second():
    text = TWO_MODELS.replace(
        "      - {model: cls, classes: [FACE_FEMALE], min_size: 24, every: 2.5}\n",
        "      - {model: cls, every: 2.5}\n      - {model: cls, every: detection}\n",
    )
    message = refused(text)
    assert "line 15: sources[0].cascades[1].name: cascade name 'cls' is used twice on this camera" in message
    config = load(text.replace("{model: cls, every: detection}", "{model: cls, name: cls_each, every: detection}"))
    assert [c.name for c in config.sources[0].cascades] == ["cls", "cls_each"]


@pytest.mark.parametrize(
    "written, expected, per_track",
    [("2.5", 2.5, True), ("3", 3.0, True), ("once_per_track", "once_per_track", True), ("detection", "detection", False)],
)
def test_every_takes_a_policy_or_seconds(written, expected, per_track):
    config = load(TWO_MODELS.replace("every: 2.5", f"every: {written}"))
    cascade = config.sources[0].cascades[0]
    assert cascade.every == expected and cascade.per_track is per_track


@pytest.mark.parametrize("written", ["0", "-1", "true", "sometimes", ".inf"])
def test_every_refuses_anything_else_in_one_message(written):
    message = refused(TWO_MODELS.replace("every: 2.5", f"every: {written}"))
    assert "line 14: sources[0].cascades[0].every: Value error, every is once_per_track, detection, or a number" in message
    assert message.count("every") == 2  # one problem, not one per member of the union


def test_cascade_defaults():
    cascade = load(TWO_MODELS.replace("{model: cls, classes: [FACE_FEMALE], min_size: 24, every: 2.5}", "{model: cls}"))
    c = cascade.sources[0].cascades[0]
    assert (c.name, c.classes, c.min_confidence, c.min_size, c.pad, c.top_k, c.every, c.vote) == (
        "cls",
        None,
        0.0,
        16,
        0.0,
        5,
        "once_per_track",
        True,
    )


@pytest.mark.parametrize(
    "setting, expected",
    [
        ("min_size: 0", "min_size: Input should be greater than or equal to 1"),
        ("pad: 1.5", "pad: Input should be less than or equal to 1"),
        ("top_k: 0", "top_k: Input should be greater than or equal to 1"),
        ("min_confidence: 2", "min_confidence: Input should be less than or equal to 1"),
        ("classes: [], min_size: 24", "classes: List should have at least 1 item"),
        ("colour: red", "colour: Extra inputs are not permitted"),
    ],
)
def test_cascade_settings_are_bounded(setting, expected):
    text = TWO_MODELS.replace("classes: [FACE_FEMALE], min_size: 24", setting)
    assert f"line 14: sources[0].cascades[0].{expected}" in refused(text)


def test_batch_for_applies_the_models_overrides_to_the_top_level_batch():
    config = load(TWO_MODELS + "batch: {max_batch: 4, max_delay_ms: 10, max_staleness_ms: 500, worker_threads: 3}\n")
    people = config.batch_for("people")
    assert (people.max_batch, people.max_delay_ms, people.max_staleness_ms, people.worker_threads) == (8, 25.0, 500.0, 3)
    assert config.batch_for("faces") == config.batch
    stale = load(TWO_MODELS.replace("max_delay_ms: 25}", "max_staleness_ms: 50}")).batch_for("people")
    assert (stale.max_batch, stale.max_delay_ms, stale.max_staleness_ms) == (8, 10.0, 50.0)
    assert load(TWO_MODELS.replace("max_delay_ms: 25}", "max_delay_ms: null}")).batch_for("people").max_delay_ms == 10.0
    with pytest.raises(KeyError, match="no model named 'plates'"):
        config.batch_for("plates")


def test_a_model_batch_override_is_bounded_like_the_top_level_batch():
    assert "line 6: models.people.batch.max_batch: Input should be greater than or equal to 1" in refused(
        TWO_MODELS.replace("max_batch: 8", "max_batch: 0")
    )


@pytest.mark.parametrize(
    "extra, tracked",
    [
        ("", False),
        ("    zones: [{name: z, polygon: [[0, 0], [10, 0], [10, 10]]}]\n", True),
        ("    lines: [{name: l, start: [0, 0], end: [10, 10]}]\n", True),
        ("    tracking: {}\n", True),
        ("    stages: [{kind: tracking}]\n", True),
        ("    clips: {directory: clips}\n", True),
        ("    cascades: [{model: cls, every: detection}]\n", False),
        ("    cascades: [{model: cls, every: 1}]\n", True),
        ("    cascades: [{model: cls}]\n", True),
    ],
)
def test_a_camera_is_tracked_when_something_follows_its_objects(extra, tracked):
    config = load(TWO_MODELS.replace("    models: [people, faces]\n", "    models: [people, faces]\n" + extra))
    assert config.sources[1].needs_tracking is tracked


def test_source_model_problems_checks_a_camera_added_later():
    config = load(TWO_MODELS)
    added = config.sources[1].model_copy(update={"models": ["plates"]})
    assert config.source_model_problems(added) == [
        (("models", 0), "source 'yard' runs model 'plates', which is not configured (models: faces, people, cls)")
    ]
    assert config.source_model_problems(config.sources[0]) == []


def test_replacing_config_model_replaces_the_first_model():
    config = load(TWO_MODELS)
    bigger = config.model_copy(update={"model": config.model.model_copy(update={"image_size": 416})})
    assert bigger.model.image_size == 416 and bigger.model_entries()["faces"].image_size == 416
    assert config.model.image_size is None and bigger.model_entries()["people"] == config.model_entries()["people"]


def test_a_dumped_config_loads_back_the_same():
    config = load(TWO_MODELS)
    again = type(config).model_validate(config.model_dump())
    assert again == config and again.batch_for("people") == config.batch_for("people")
    one = load(ONE_MODEL)
    assert type(one).model_validate(one.model_dump()) == one


def test_the_schema_command_documents_models_cascades_and_every():
    done = subprocess.run([sys.executable, "-m", "vigil", "config", "schema"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert "models" in schema["properties"] and "model" in schema["properties"]
    assert "sources[].models" in schema["properties"]["models"]["description"]
    text = json.dumps(schema)
    assert "cascades" in text and "once_per_track" in text
    cascade = schema["$defs"]["CascadeConfig"]["properties"]
    assert "every" in cascade and "tracked" in cascade["every"]["description"]
