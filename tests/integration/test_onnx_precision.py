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


def test_fp16_graph_keeps_float32_io_and_finds_the_same_face(yolov8n, tmp_path):
    source = onnx_file(yolov8n)
    converted = onnx_precision.to_fp16(source.read_bytes())
    graph = onnx.load_from_string(converted).graph
    assert {i.data_type for i in graph.initializer if i.dims} >= {onnx.TensorProto.FLOAT16}
    assert all(v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for v in [*graph.input, *graph.output])
    root = tmp_path / "model"
    shutil.copytree(yolov8n, root)
    write_package(root, "onnx-fp16", {"model.onnx": converted}, quantization="fp16", onnx={"opset": 17})
    fp32 = AutoModel.from_pretrained(root, backend="onnx", quantization="fp32", resolution_cache_ttl_s=0)
    fp16 = AutoModel.from_pretrained(root, backend="onnx", quantization="fp16", resolution_cache_ttl_s=0)
    assert fp16.package_id == "onnx-fp16"
    image = photo("astronaut")
    (a,), (b,) = fp32([image]), fp16([image])
    box32, conf32 = best_face(a, fp32.class_names)
    box16, conf16 = best_face(b, fp16.class_names)
    assert iou(box32, box16) > 0.95 and abs(conf32 - conf16) < 0.02


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
    root = tmp_path / "model"
    shutil.copytree(yolov8n, root)
    write_package(root, "onnx-int8", {"model.onnx": quantized}, quantization="int8", onnx={"opset": 17})
    fp32 = AutoModel.from_pretrained(root, backend="onnx", quantization="fp32", resolution_cache_ttl_s=0)
    int8 = AutoModel.from_pretrained(root, backend="onnx", quantization="int8", resolution_cache_ttl_s=0)
    assert int8.package_id == "onnx-int8"
    image = photo("astronaut")
    (a,), (b,) = fp32([image]), int8([image])
    box32, conf32 = best_face(a, fp32.class_names)
    box8, conf8 = best_face(b, int8.class_names)
    print(f"face fp32 {conf32:.3f} {box32.round(1)}  int8 {conf8:.3f} {box8.round(1)}  IoU {iou(box32, box8):.3f}")
    assert iou(box32, box8) > 0.8 and abs(conf32 - conf8) < 0.15
