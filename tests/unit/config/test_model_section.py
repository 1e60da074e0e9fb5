"""`model:`: backend-only settings live in their backend's section; the old flat keys still load."""

import pytest

from vigil.config.loader import parse_config
from vigil.config.model import ModelConfig
from vigil.errors import ConfigError


def test_backend_settings_have_their_own_sections():
    model = ModelConfig.model_validate(
        {
            "path": "m.onnx",
            "onnxruntime": {"intra_op_threads": 2, "allow_spinning": True},
            "tensorrt": {"build_engine": "auto", "engine_fp16": False},
        }
    )
    assert (model.onnxruntime.intra_op_threads, model.onnxruntime.allow_spinning) == (2, True)
    assert (model.tensorrt.build_engine, model.tensorrt.engine_fp16) == ("auto", False)


def test_defaults_without_the_sections():
    model = ModelConfig.model_validate({"path": "m.onnx"})
    assert (model.onnxruntime.intra_op_threads, model.onnxruntime.allow_spinning) == (None, False)
    assert (model.tensorrt.build_engine, model.tensorrt.engine_fp16) == ("never", True)


@pytest.mark.parametrize(
    "flat, section, key",
    [
        ({"intra_op_threads": 3}, "onnxruntime", "intra_op_threads"),
        ({"allow_spinning": True}, "onnxruntime", "allow_spinning"),
        ({"build_engine": "auto"}, "tensorrt", "build_engine"),
        ({"engine_fp16": False}, "tensorrt", "engine_fp16"),
    ],
)
def test_old_flat_keys_load_into_their_section(flat, section, key):
    model = ModelConfig.model_validate({"path": "m.onnx", **flat})
    assert getattr(getattr(model, section), key) == flat[key]
    assert model == ModelConfig.model_validate({"path": "m.onnx", section: flat})


def test_both_forms_are_refused_with_the_new_form_in_the_message():
    text = (
        "sources: [{name: a, url: a.mp4}]\njsonl: {path: out.jsonl}\n"
        "model:\n  path: m.onnx\n  intra_op_threads: 3\n  onnxruntime: {allow_spinning: true}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "vigil.yaml", {})
    message = str(info.value)
    assert "line 3: model:" in message
    assert "`onnxruntime: {allow_spinning: true, intra_op_threads: 3}`" in message


def test_a_bad_value_under_an_old_key_is_still_refused():
    with pytest.raises(ValueError, match="intra_op_threads"):
        ModelConfig.model_validate({"path": "m.onnx", "intra_op_threads": 0})


def test_an_unknown_key_in_a_backend_section_is_an_error():
    with pytest.raises(ValueError, match="Extra inputs"):
        ModelConfig.model_validate({"path": "m.onnx", "tensorrt": {"intra_op_threads": 2}})
