"""AutoModel on real ONNX files: the nudenet YOLOv8n, small graphs built with onnx, golden exports."""

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.conftest import photo
from vigil.engine import AutoModel, BatchSpec, Detections
from vigil.errors import ModelInputError, ModelLoadError, ModelNotFoundError, VigilError


def tiny_onnx(path: Path, metadata: dict[str, str], out_shape=("batch", 6, "anchors")) -> Path:
    """A real, runnable ONNX graph (Identity-free ReduceMean) that is no YOLO detector."""
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "h", "w"])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(out_shape))
    node = helper.make_node("ReduceMean", ["images"], ["output0"], keepdims=1)
    model = helper.make_model(helper.make_graph([node], "tiny", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def model(nudenet_path):
    return AutoModel.from_pretrained(nudenet_path)


def test_nudenet_loads_with_metadata_from_the_export(model):
    assert model.model_id == "320n"
    assert len(model.class_names) == 18 and model.class_names[1] == "FACE_FEMALE"
    assert model.input_size == (320, 320)
    assert model.batch == BatchSpec()  # dynamic batch


def test_astronaut_face_is_detected(model):
    (dets,) = model(photo("astronaut"))
    assert isinstance(dets, Detections)
    faces = dets[dets.class_name == "FACE_FEMALE"]
    assert len(faces) == 1 and faces.confidence[0] > 0.5
    x1, y1, x2, y2 = faces.xyxy[0]
    assert 140 < x1 < x2 < 300 and 50 < y1 < y2 < 220  # the face, in original pixels


def test_a_batch_gives_the_same_answer_as_single_calls(model):
    images = [photo("astronaut"), photo("astronaut")[:, ::-1].copy(), photo("coffee")]
    batched = model(images)
    for img, dets in zip(images, batched):
        (single,) = model([img])
        np.testing.assert_allclose(dets.xyxy, single.xyxy, atol=1e-3)
        np.testing.assert_array_equal(dets.class_id, single.class_id)


@pytest.mark.parametrize(
    "convert",
    [
        lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2GRAY),
        lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None],
        lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2BGRA),
        lambda img: img.astype(np.uint16) * 257,
        lambda img: cv2.resize(img, (4096, 4096)),
    ],
    ids=["gray", "gray-1ch", "bgra", "16-bit", "8x-larger"],
)
def test_other_image_formats_are_converted_and_still_find_the_face(model, convert):
    (dets,) = model([convert(photo("astronaut"))])
    assert "FACE_FEMALE" in dets.class_name.tolist()


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((0, 10, 3), np.uint8), "image 0: is empty \\(0x10 pixels\\)"),
        (np.zeros((10, 10, 3), np.float32), "dtype float32 is not supported"),
        (np.zeros((10, 10, 2), np.uint8), "got shape \\(10, 10, 2\\)"),
        ("astronaut.png", "expected a numpy array"),
    ],
)
def test_unusable_images_are_refused_with_a_clear_error(model, image, message):
    with pytest.raises(ModelInputError, match=message):
        model([image])


def test_missing_model_names_the_path(tmp_path):
    with pytest.raises(ModelNotFoundError, match="nope.onnx' not found"):
        AutoModel.from_pretrained(tmp_path / "nope.onnx")


def test_file_that_is_not_onnx_is_refused(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ModelLoadError, match="garbage.onnx': onnxruntime could not load it"):
        AutoModel.from_pretrained(bad)


def test_onnx_without_ultralytics_metadata_is_refused(tmp_path):
    path = tiny_onnx(tmp_path / "plain.onnx", {})
    with pytest.raises(ModelLoadError, match="not an Ultralytics YOLO export"):
        AutoModel.from_pretrained(path)


def test_onnx_whose_output_is_no_detection_head_is_refused(tmp_path):
    meta = {"names": "{0: 'a', 1: 'b', 2: 'c'}", "imgsz": "[64, 64]", "task": "detect"}
    path = tiny_onnx(tmp_path / "head.onnx", meta, out_shape=(1, 1, 1, 1))
    with pytest.raises(
        ModelLoadError,
        match=r"do not match a YOLO .detect. head; expected 1 output\(s\), the first \[batch, 4 \+ 3 classes, anchors\]",
    ):
        AutoModel.from_pretrained(path)


def test_bad_option_is_a_vigil_error(nudenet_path):
    with pytest.raises(VigilError, match="confidence must be within"):
        AutoModel.from_pretrained(nudenet_path, confidence=2.0)


def test_image_size_must_be_a_stride_multiple(nudenet_path):
    with pytest.raises(ModelLoadError, match="multiple of stride 32"):
        AutoModel.from_pretrained(nudenet_path, image_size=300)


@pytest.mark.parametrize(
    "task, expected",
    [
        ("segment", "expected 2 outputs: \\[batch, 4 \\+ classes \\+ k, anchors\\] and prototypes"),
        ("pose", "needs keypoint_shape"),
        ("classify", "expected 1 output \\[batch, 1 classes\\]"),
    ],
)
def test_outputs_that_do_not_match_the_declared_task_are_refused(tmp_path, task, expected):
    meta = {"names": "{0: 'a'}", "imgsz": "[64, 64]", "task": task}
    path = tiny_onnx(tmp_path / f"{task}.onnx", meta, out_shape=("batch", 5, "anchors"))
    with pytest.raises(ModelLoadError, match=expected):
        AutoModel.from_pretrained(path)
