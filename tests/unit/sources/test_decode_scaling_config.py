"""`sources[].decode_size`: validated in the YAML (even sides, bounds, shapes in pixels inside the
picture), resolved by assembly (`model`: the box of the model's input), and at work in a source
(`vigil.sources._scaling.Scaling`: the decoder asked for the size, a fitted size found after the
first open, warnings about a stretched or upscaled picture)."""

from __future__ import annotations

import logging

import pytest

from tests.support.fake_decoder import FakeDecoder
from vigil.config.loader import parse_config
from vigil.errors import ConfigError
from vigil.sources._scaling import DecodeSize, Scaling, decode_size_of, fit_inside
from vigil.sources.decode.base import InputSpec


def source_yaml(extra: str) -> str:
    return f"""model:
  path: /models/yolo.onnx
sinks:
  - {{kind: jsonl, path: /tmp/out.jsonl}}
sources:
  - name: cam
    url: /videos/door.mp4
{extra}"""


def parsed(extra: str):
    return parse_config(source_yaml(extra), "cam.yaml", {}).sources[0]


def refused(extra: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parsed(extra)
    return str(caught.value)


def test_a_size_and_model_are_read_and_none_is_the_default():
    assert parsed("    decode_size: [640, 360]\n").decode_size == (640, 360)
    assert parsed("    decode_size: model\n").decode_size == "model"
    assert parsed("").decode_size is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("[641, 360]", ["decode_size", "even", "[642, 360]"]),
        ("[640, 361]", ["even", "[640, 362]"]),
        ("[16, 16]", ["give [width, height]", "from 32 to 8192", "got [16, 16]"]),
        ("[9000, 360]", ["from 32 to 8192", "got [9000, 360]"]),
        ("[640]", ["give [width, height]", "got [640]"]),
        ("half", ["or 'model'", "got 'half'"]),
    ],
)
def test_bad_sizes_are_refused_with_the_key_and_what_to_give(value, words):
    message = refused(f"    decode_size: {value}\n")
    assert "cam.yaml: line 8: sources[0].decode_size" in message, message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    ("shape", "named"),
    [
        ("    zones:\n      - {name: door, polygon: [[0, 0], [1280, 0], [1280, 720]]}\n", "zone 'door'"),
        ("    lines:\n      - {name: gate, start: [100, 100], end: [100, 700]}\n", "line 'gate'"),
        ("    motion:\n      enabled: true\n      masks:\n        - polygon: [[0, 0], [1900, 0], [1900, 60]]\n", "motion mask 0"),
        ("    stages:\n      - {kind: zones, zones: [{name: yard, polygon: [[0, 0], [700, 0], [700, 50]]}]}\n", "zone 'yard'"),
    ],
)
def test_a_shape_in_pixels_outside_the_decoded_picture_is_refused_by_name(shape, named):
    message = refused(shape + "    decode_size: [640, 360]\n")
    assert named in message and "640x360" in message and "normalized" in message, message


def test_shapes_inside_the_decoded_picture_or_normalized_are_kept():
    config = parsed(
        "    zones:\n      - {name: door, polygon: [[0, 0], [640, 0], [640, 360]]}\n"
        "      - {name: all, normalized: true, polygon: [[0, 0], [1, 0], [1, 1]]}\n"
        "    lines:\n      - {name: gate, start: [320, 0], end: [320, 360]}\n"
        "    decode_size: [640, 360]\n"
    )
    assert [zone.name for zone in config.zones] == ["door", "all"]


@pytest.mark.parametrize(
    ("stream", "box", "size"),
    [
        ((1920, 1080), (640, 640), (640, 360)),
        ((3840, 2160), (640, 640), (640, 360)),
        ((1280, 720), (320, 320), (320, 180)),
        ((640, 480), (640, 640), (640, 480)),
        ((1080, 1920), (640, 640), (360, 640)),
        ((1000, 333), (640, 640), (640, 212)),
        ((704, 576), (640, 384), (468, 384)),
    ],
)
def test_fit_inside_keeps_the_aspect_with_even_sides(stream, box, size):
    assert fit_inside(stream, box) == size


def test_model_needs_the_model_input_and_its_shapes_inside_it():
    config = parsed("    decode_size: model\n")
    assert decode_size_of(config, (640, 640)) == DecodeSize(640, 640, fit=True)
    with pytest.raises(ConfigError, match=r"source 'cam': decode_size: model .* give decode_size: \[width, height\]"):
        decode_size_of(config, None)
    wide = parsed("    zones:\n      - {name: far, polygon: [[0, 0], [900, 0], [900, 300]]}\n    decode_size: model\n")
    with pytest.raises(ConfigError, match="zone 'far'"):
        decode_size_of(wide, (640, 640))
    assert decode_size_of(parsed("    decode_size: [320, 180]\n"), None) == DecodeSize(320, 180)
    assert decode_size_of(parsed(""), (640, 640)) is None


def test_a_fixed_size_is_asked_of_the_decoder_at_every_open():
    decoder, scaling = FakeDecoder(size=(1280, 720)), Scaling("cam", (640, 360))
    for _ in range(2):
        scaling.open(decoder, InputSpec("file", "/v.mp4")).close()
    assert [spec.output_size for spec in decoder.specs] == [(640, 360), (640, 360)]


def test_a_fitted_size_is_found_at_the_first_open_then_asked_at_once(caplog):
    decoder, scaling = FakeDecoder(size=(1920, 1080)), Scaling("cam", DecodeSize(640, 640, fit=True))
    with caplog.at_level(logging.INFO, "vigil.sources"):
        first = scaling.open(decoder, InputSpec("rtsp", "rtsp://cam/main"))
        second = scaling.open(decoder, InputSpec("rtsp", "rtsp://cam/main"))
    assert [spec.output_size for spec in decoder.specs] == [None, (640, 360), (640, 360)]
    assert decoder.inputs[0].closed == 1 and first is decoder.inputs[1] and second is decoder.inputs[2]
    assert "decoding 1920x1080 pictures at 640x360 (fit inside 640x640)" in caplog.text
    decoder.size = (1280, 960)  # the camera's picture changed (4:3): found again
    scaling.open(decoder, InputSpec("rtsp", "rtsp://cam/main"))
    assert [spec.output_size for spec in decoder.specs[3:]] == [(640, 360), (640, 480)]


def test_a_stretched_or_upscaled_picture_is_warned_about_once_per_camera_size(caplog):
    decoder = FakeDecoder(size=(1920, 1080))
    with caplog.at_level(logging.WARNING, "vigil.sources"):
        stretch = Scaling("cam", (640, 480))
        for _ in range(3):
            stretch.open(decoder, InputSpec("file", "/v.mp4"))
        Scaling("big", (3840, 2160)).open(decoder, InputSpec("file", "/v.mp4"))
        Scaling("fine", (640, 360)).open(decoder, InputSpec("file", "/v.mp4"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "source 'cam': decode_size 640x480 stretches the camera's 1920x1080 picture" in warnings[0]
    assert "give [640, 360] to keep its shape" in warnings[0]
    assert "source 'big': decode_size 3840x2160 is larger than the camera's 1920x1080 picture" in warnings[1]
