"""Fuzzing what reads model metadata: `model.json` and `package.json` (package_format), and the
metadata of a bare Ultralytics ONNX export (onnx_runtime, ultralytics_wrap). A model comes from
anywhere, so whatever it holds the only error is a `ModelError` (a VigilError), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzz import FUZZ, json_values, mutated
from vigil.engine._private.package_format import parse_model, parse_package, read_model_dir
from vigil.engine._private.ultralytics_wrap import wrap_metadata
from vigil.errors import ModelLoadError, VigilError

MODEL = {
    "model_id": "tiny",
    "architecture": "yolo",
    "task": "pose",
    "class_names": ["person", "car"],
    "input": {"size": [64, 64], "color": "rgb", "resize": "letterbox", "normalization": {"scale": 0.5, "mean": [0, 0, 0]}},
    "keypoint_shape": [17, 3],
    "parameters": {"box_thresh": 0.5},
}
PACKAGE = {
    "package_id": "onnx-fp16",
    "backend": "onnx",
    "quantization": "fp16",
    "batch": {"min": 1, "opt": 2, "max": 8},
    "onnx": {"opset": 17, "incompatible_providers": ["TensorrtExecutionProvider"]},
    "trt": {"version": "10.3.0", "compute_capability": "8.7"},
    "trusted": False,
    "entrypoint": "model.py:Model",
    "files": [{"name": "model.onnx", "sha256": "0" * 64, "size": 10}, {"name": "model.py", "sha256": "1" * 64}],
}
PROPS = {
    "names": "{0: 'person', 1: 'car'}",
    "imgsz": "[640, 640]",
    "task": "detect",
    "stride": "32",
    "batch": "1",
    "end2end": "False",
    "kpt_shape": "[17, 3]",
}
FILE = {"name": "m.onnx", "sha256": "0" * 64, "size": 1}

_LITERALS = st.sampled_from(
    [
        "",
        "[",
        "[640",
        "[640, 640, 640]",
        "[-1, 0]",
        "[1e999, 1]",
        "[float('inf'), 1]",
        "nan",
        "1e999",
        "9" * 5000,
        "[" * 300 + "]" * 300,
        "-" * 5000 + "1",
        "(" * 100 + ")" * 100,
        "{0: 'a', 2: 'b'}",
        "{'a': 1}",
        "['a', 'b']",
        "'ab'",
        "{0: None}",
        "set()",
        "{1, 2}",
        "__import__('os')",
        "b'x'",
        "[[1], [2]]",
        "[0.5, 2]",
        "True",
        "[17]",
        "[17, 9]",
    ]
)
props = st.dictionaries(st.sampled_from(sorted(PROPS)), st.one_of(_LITERALS, st.text(max_size=20)), max_size=7).map(
    lambda extra: {**PROPS, **extra}
) | st.dictionaries(st.sampled_from(sorted(PROPS)), st.one_of(_LITERALS, st.text(max_size=20)), max_size=7)
shapes = st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans()), max_size=6)
stems = st.text(min_size=1, max_size=200).filter(lambda s: "/" not in s and "\x00" not in s and s not in (".", ".."))


def test_the_fuzzed_documents_start_valid():
    assert parse_model(MODEL, "m").keypoint_shape == (17, 3)
    assert parse_package(PACKAGE, "p").carries_code
    model, package = wrap_metadata(Path("/m/yolo.onnx"), PROPS, [1, 3, 640, 640], FILE)
    assert model.input.size == (640, 640) and package.batch.static == 1


@FUZZ
@given(doc=mutated(MODEL))
def test_any_model_json_is_parsed_or_refused_with_a_model_error(doc):
    try:
        parse_model(doc, "model 'fuzz'")
    except VigilError:
        pass


@FUZZ
@given(doc=mutated(PACKAGE))
def test_any_package_json_is_parsed_or_refused_with_a_model_error(doc):
    try:
        parse_package(doc, "package 'fuzz'")
    except VigilError:
        pass


@FUZZ
@given(props=props, shape=shapes, stem=stems)
def test_any_ultralytics_metadata_is_wrapped_or_refused_with_a_model_error(props, shape, stem):
    try:
        model, _ = wrap_metadata(Path("/models") / f"{stem}.onnx", props, shape, FILE)
    except VigilError:
        return
    assert all(1 <= side <= 65_536 for side in model.input.size)  # nothing downstream divides by zero


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-model")
    (root / "onnx-fp16").mkdir()
    return root


def _text(doc: object) -> bytes:
    try:
        return json.dumps(doc).encode()
    except (ValueError, RecursionError):
        return b"{"


@FUZZ
@given(
    model=st.one_of(mutated(MODEL).map(_text), st.binary(max_size=60), st.just(b"[" * 100_000), json_values.map(_text)),
    package=st.one_of(mutated(PACKAGE).map(_text), st.binary(max_size=60), st.just(b'{"a":' * 50_000)),
)
def test_any_model_directory_is_read_or_refused_with_a_model_error(model_dir, model, package):
    (model_dir / "model.json").write_bytes(model)
    (model_dir / "onnx-fp16" / "package.json").write_bytes(package)
    try:
        read_model_dir(model_dir)
    except VigilError:
        pass


def test_json_nested_too_deeply_is_a_model_error(tmp_path):
    (tmp_path / "model.json").write_text("[" * 100_000)
    with pytest.raises(ModelLoadError, match="is not readable JSON"):
        read_model_dir(tmp_path)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("imgsz", "[1e999, 640]", "unreadable Ultralytics metadata"),
        ("stride", "x", "unreadable Ultralytics metadata"),
        ("kpt_shape", "[17", "unreadable Ultralytics metadata"),
        ("names", "[" * 300 + "]" * 300, "unreadable Ultralytics metadata"),
        ("imgsz", "[-640, 0]", r"input.size.0: Input should be greater than or equal to 1"),
    ],
)
def test_bad_ultralytics_metadata_is_a_model_error(key, value, expected):
    with pytest.raises(ModelLoadError, match=expected):
        wrap_metadata(Path("/m/yolo.onnx"), {**PROPS, key: value}, [1, 3, None, None], FILE)


def test_a_model_id_is_made_from_any_file_name():
    model, _ = wrap_metadata(Path("/m/_modèle (2).onnx"), PROPS, [1, 3, 640, 640], FILE)
    assert model.model_id == "mod_le__2_"
