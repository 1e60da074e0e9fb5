"""The reduced-precision graphs vigil builds TensorRT 11 engines from (fp16 weights; int8 Q/DQ
calibrated on images), checked with real onnxruntime on nudenet's real YOLOv8n: the converted
graphs must still find the astronaut's face where the fp32 graph does."""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from tests.conftest import photo
from tests.model_packages import write_package
from vigil.engine import AutoModel
from vigil.engine._private import importers, onnx_precision, trt_build
from vigil.engine._private.package_format import read_model_dir

CALIBRATION = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry", "hubble_deep_field", "coins")


@pytest.fixture(scope="module")
def yolov8n(tmp_path_factory: pytest.TempPathFactory) -> Path:
    nudenet = Path(str(importlib.resources.files("nudenet") / "320n.onnx"))
    return importers.import_ultralytics_onnx(nudenet, tmp_path_factory.mktemp("yolo") / "yolov8n")


def onnx_file(root: Path) -> Path:
    _, packages = read_model_dir(root)
    package = next(p for p in packages if p.backend.value == "onnx")
    return root / package.package_id / package.main_file((".onnx",)).name


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = np.maximum(a[:2], b[:2])
    x2, y2 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return float(inter / (area(a) + area(b) - inter))


def best_face(detections, names) -> tuple[np.ndarray, float]:
    faces = [i for i, c in enumerate(detections.class_id) if "FACE" in names[int(c)]]
    assert faces, "no face found"
    i = max(faces, key=lambda j: detections.confidence[j])
    return detections.xyxy[i], float(detections.confidence[i])


def face_against_fp32(yolov8n: Path, tmp_path: Path, graph: bytes, quantization: str) -> tuple[float, float, float]:
    """`graph` as a package beside the fp32 one; the astronaut's face by both: (IoU, conf fp32, conf graph)."""
    root = tmp_path / "model"
    shutil.copytree(yolov8n, root)
    write_package(root, f"onnx-{quantization}", {"model.onnx": graph}, quantization=quantization, onnx={"opset": 17})
    fp32 = AutoModel.from_pretrained(root, backend="onnx", quantization="fp32", resolution_cache_ttl_s=0)
    other = AutoModel.from_pretrained(root, backend="onnx", quantization=quantization, resolution_cache_ttl_s=0)
    assert other.package_id == f"onnx-{quantization}"
    image = photo("astronaut")
    (a,), (b,) = fp32([image]), other([image])
    box32, conf32 = best_face(a, fp32.class_names)
    box, conf = best_face(b, other.class_names)
    return iou(box32, box), conf32, conf


def test_fp16_graph_keeps_float32_io_and_finds_the_same_face(yolov8n, tmp_path):
    source = onnx_file(yolov8n)
    converted = onnx_precision.to_fp16(source.read_bytes())
    graph = onnx.load_from_string(converted).graph
    assert {i.data_type for i in graph.initializer if i.dims} >= {onnx.TensorProto.FLOAT16}
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in [*graph.input, *graph.output])
    overlap, conf32, conf16 = face_against_fp32(yolov8n, tmp_path, converted, "fp16")
    assert overlap > 0.95 and abs(conf32 - conf16) < 0.02


def test_int8_qdq_graph_is_calibrated_on_images_and_still_finds_the_face(yolov8n, tmp_path):
    model, _ = read_model_dir(yolov8n)
    calib = tmp_path / "calib"
    calib.mkdir()
    for name in CALIBRATION:
        cv2.imwrite(str(calib / f"{name}.png"), photo(name))
    batches = trt_build.calibration_batches(model, calib, [2, 3, *model.input.size], max_batches=8)
    quantized = onnx_precision.to_int8_qdq(onnx_file(yolov8n), "images", batches)
    graph = onnx.load_from_string(quantized).graph
    ops = [n.op_type for n in graph.node]
    convs = ops.count("Conv")
    # Q/DQ pairs sit in front of the Conv layers only: the head's concat of boxes and scores stays float
    assert ops.count("QuantizeLinear") >= convs and ops.count("DequantizeLinear") >= 2 * convs
    dequantized = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    (head,) = [n for n in graph.node if graph.output[0].name in n.output]
    assert head.op_type == "Concat" and not set(head.input) & dequantized
    scales = [onnx.numpy_helper.to_array(i) for i in graph.initializer if i.name.endswith("_scale")]
    assert scales and all(np.all(s > 0) for s in scales)
    overlap, conf32, conf8 = face_against_fp32(yolov8n, tmp_path, quantized, "int8")
    print(f"face confidence fp32 {conf32:.3f}, int8 {conf8:.3f}; IoU {overlap:.3f}")
    assert overlap > 0.8 and abs(conf32 - conf8) < 0.15
