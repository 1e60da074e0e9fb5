"""AutoModel over real model directories: tiny ONNX graphs built with onnx.helper, real hashes."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from tests.model_packages import multi_package_model, tiny_yolo_onnx, write_model_json, write_package
from vigil.engine import AutoModel
from vigil.engine.developer_tools import ModelListing, get_model_package_contents, read_model_dir, register_model_provider
from vigil.errors import ModelLoadError, ModelNotFoundError, ModelResolutionError

IMAGE = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)


@pytest.fixture
def model_dir(tmp_path):
    return multi_package_model(tmp_path / "tiny", tmp_path)


def test_best_package_is_loaded_and_runs(model_dir):
    model = AutoModel.from_pretrained(model_dir)
    assert model.package_id == "onnx-dyn"  # dynamic before static; TRT and opset 99 refused here
    assert model.model_id == "tiny" and model.class_names == ("person", "car", "dog")
    assert model.batch.max == 8
    assert len(model([IMAGE] * 11)) == 11  # above the package's max 8: run in chunks


def test_static_batch_package_pads_and_chunks(model_dir):
    model = AutoModel.from_pretrained(model_dir, package_id="onnx-b4")
    assert model.batch.static and model.batch.max == 4
    prepared = model.pre_process([IMAGE])
    assert model.forward(prepared)[0].shape[0] == 1  # padded to 4 for the graph, padding dropped
    prepared6 = model.pre_process([IMAGE] * 6)
    assert model.forward(prepared6)[0].shape[0] == 6


def test_batch_range_excludes_packages(model_dir):
    model = AutoModel.from_pretrained(model_dir, batch_range=(1, 1), backend="onnx")
    assert model.package_id in {"onnx-dyn", "onnx-b1"}
    assert AutoModel.from_pretrained(model_dir, batch_range=(4, 4), package_id="onnx-b4").package_id == "onnx-b4"
    with pytest.raises(ModelResolutionError, match="onnx-b4: .*static batch 4 outside the requested range 1..2"):
        AutoModel.from_pretrained(model_dir, batch_range=(1, 2), package_id="onnx-b4")


def test_nothing_fits_lists_every_package_and_reason(model_dir):
    with pytest.raises(ModelResolutionError) as info:
        AutoModel.from_pretrained(model_dir, backend="trt")
    text = str(info.value)
    for package_id in ("onnx-dyn", "onnx-b4", "onnx-b1", "onnx-opset99", "trt-orin"):
        assert f"\n  {package_id}: " in text
    assert "ONNX opset 99 is newer than onnxruntime" in text
    assert "backend 'trt' is not installed" in text


def test_tampered_file_falls_back_to_the_next_package(model_dir, caplog):
    (model_dir / "onnx-dyn" / "model.onnx").write_bytes(b"replaced")
    with caplog.at_level(logging.WARNING):
        model = AutoModel.from_pretrained(model_dir)
    assert model.package_id == "onnx-b1"  # next in rank: static 1 is closest to the default batch
    assert "file 'model.onnx' has sha256" in caplog.text and "corrupt or was replaced" in caplog.text


def test_tampered_only_package_is_a_clear_error(model_dir):
    (model_dir / "onnx-b4" / "model.onnx").write_bytes(b"replaced")
    with pytest.raises(ModelLoadError, match="package 'onnx-b4': file 'model.onnx' has sha256"):
        AutoModel.from_pretrained(model_dir, package_id="onnx-b4")


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "a/../../b.onnx", "..\\x.onnx"])
def test_file_names_cannot_escape_the_package(tmp_path, name):
    root = write_model_json(tmp_path / "m")
    folder = write_package(root, "onnx", {"model.onnx": tiny_yolo_onnx(tmp_path / "t.onnx")})
    meta = json.loads((folder / "package.json").read_text())
    meta["files"][0]["name"] = name
    (folder / "package.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="must be a relative path inside the package"):
        AutoModel.from_pretrained(root)


def test_symlink_out_of_the_package_is_refused(tmp_path):
    root = write_model_json(tmp_path / "m")
    outside = tiny_yolo_onnx(tmp_path / "outside.onnx")
    folder = write_package(root, "onnx", {"model.onnx": outside})
    (folder / "model.onnx").unlink()
    (folder / "model.onnx").symlink_to(outside)
    with pytest.raises(ModelLoadError, match="leads outside the package"):
        AutoModel.from_pretrained(root)


def test_package_with_python_code_needs_allow_untrusted(tmp_path):
    root = write_model_json(tmp_path / "m")
    write_package(root, "custom", {"model.onnx": tiny_yolo_onnx(tmp_path / "t.onnx"), "model.py": b"import os\n"})
    with pytest.raises(ModelResolutionError, match="carries executable code"):
        AutoModel.from_pretrained(root)
    assert AutoModel.from_pretrained(root, allow_untrusted=True).package_id == "custom"


def test_package_json_typo_is_an_error_naming_the_key(tmp_path):
    root = write_model_json(tmp_path / "m")
    write_package(root, "onnx", {"model.onnx": tiny_yolo_onnx(tmp_path / "t.onnx")}, quantisation="fp16")
    with pytest.raises(ModelLoadError, match="quantisation: Extra inputs are not permitted"):
        AutoModel.from_pretrained(root)


def test_graph_batch_must_agree_with_package_json(tmp_path):
    root = write_model_json(tmp_path / "m")
    write_package(root, "onnx", {"model.onnx": tiny_yolo_onnx(tmp_path / "b4.onnx", batch=4)}, batch={"min": 1, "max": 8})
    with pytest.raises(ModelLoadError, match="graph takes batches of exactly 4 but package.json says batch 1..8"):
        AutoModel.from_pretrained(root)


def test_registered_provider_resolves_prefixed_references(model_dir):
    def from_dir(model_id: str) -> ModelListing:
        assert model_id == "tiny-v1"
        from vigil.engine._private.providers import local_provider

        return local_provider(str(model_dir))

    register_model_provider("teststore", from_dir)
    assert AutoModel.from_pretrained("teststore:tiny-v1").model_id == "tiny"
    with pytest.raises(ModelNotFoundError, match="no weights provider named 'nosuch'"):
        AutoModel.from_pretrained("nosuch:model")


def test_get_model_package_contents_returns_verified_files(model_dir):
    files = get_model_package_contents(model_dir, "onnx-b4")
    assert set(files) == {"model.onnx"} and files["model.onnx"].is_file()
    model, packages = read_model_dir(model_dir)
    assert model.model_id == "tiny" and len(packages) == 5


def test_bare_ultralytics_onnx_is_a_one_package_model(nudenet_path):
    model = AutoModel.from_pretrained(nudenet_path)
    assert model.package_id == "onnx" and model.model_id == "320n" and not model.batch.static


def test_nms_free_end_to_end_export_is_filtered_by_confidence_and_scaled(tmp_path):
    from tests.model_packages import end2end_onnx
    from vigil.engine.models.yolo import _ultralytics_ops as ops

    rows = np.array([[100, 180, 300, 400, 0.9, 2], [10, 90, 50, 130, 0.6, 0], [0, 80, 20, 100, 0.2, 1]], np.float32)
    model = AutoModel.from_pretrained(end2end_onnx(tmp_path / "e2e.onnx", rows), confidence=0.5)
    image = np.zeros((480, 640, 3), np.uint8)
    (dets,) = model([image, image])[:1]
    assert dets.class_id.tolist() == [2, 0] and dets.class_name.tolist() == ["dog", "person"]
    np.testing.assert_allclose(dets.confidence, [0.9, 0.6])
    box = model.pre_process([image]).meta[0]  # fixed 640x640 input: 80 px of padding top and bottom
    assert (box.top, box.in_h) == (80, 640)
    np.testing.assert_allclose(dets.xyxy, ops.scale_boxes(rows[:2, :4], box))
