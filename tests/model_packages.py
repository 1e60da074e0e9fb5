"""Builders for real model directories: tiny YOLO-shaped ONNX graphs made with onnx.helper,
package.json files with real sha256 hashes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CLASS_NAMES = ["person", "car", "dog"]


def tiny_yolo_onnx(path: Path, *, batch: int | None = None, opset: int = 17, nc: int = 3, size: int = 64) -> Path:
    """A runnable ONNX with an Ultralytics detection head's layout: images [B,3,H,W] ->
    output0 [B, 4+nc, H/32*W/32] (a stride-32 Conv, then Reshape). `batch=None`: dynamic."""
    b = batch if batch is not None else "batch"
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [b, 3, size, size])
    anchors = (size // 32) ** 2
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [b, 4 + nc, anchors])
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(0, 0.01, (4 + nc, 3, 32, 32)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([0, 4 + nc, -1], np.int64), "shape")
    nodes = [
        helper.make_node("Conv", ["images", "w"], ["conv"], strides=[32, 32]),
        helper.make_node("Reshape", ["conv", "shape"], ["output0"]),
    ]
    graph = helper.make_graph(nodes, "tiny_yolo", [x], [y], initializer=[weight, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    for key, value in {
        "names": repr(dict(enumerate(CLASS_NAMES[:nc]))),
        "imgsz": f"[{size}, {size}]",
        "task": "detect",
        "stride": "32",
    }.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_model_json(root: Path, model_id: str = "tiny", size: int = 64, nc: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.json").write_text(
        json.dumps(
            {
                "model_id": model_id,
                "architecture": "yolo",
                "task": "detect",
                "class_names": CLASS_NAMES[:nc],
                "input": {"size": [size, size], "color": "rgb", "resize": "letterbox", "stride": 32},
            }
        )
    )
    return root


def write_package(root: Path, package_id: str, files: dict[str, Path | bytes], **meta: object) -> Path:
    """A package folder holding `files` (copied) and a package.json listing them with hashes."""
    folder = root / package_id
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, content in files.items():
        target = folder / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            shutil.copyfile(content, target)
        entries.append({"name": name, "sha256": sha256(target), "size": target.stat().st_size})
    body = {"package_id": package_id, "backend": "onnx", "batch": {"min": 1, "max": None}, "files": entries}
    body.update(meta)
    (folder / "package.json").write_text(json.dumps(body, indent=2))
    return folder


def multi_package_model(root: Path, tmp: Path) -> Path:
    """tiny model with: dynamic 1..8, static 4, static 1, an opset too new, a TensorRT engine."""
    write_model_json(root)
    write_package(
        root,
        "onnx-dyn",
        {"model.onnx": tiny_yolo_onnx(tmp / "dyn.onnx")},
        batch={"min": 1, "opt": 4, "max": 8},
        onnx={"opset": 17},
    )
    write_package(
        root, "onnx-b4", {"model.onnx": tiny_yolo_onnx(tmp / "b4.onnx", batch=4)}, batch={"static": 4}, onnx={"opset": 17}
    )
    write_package(
        root, "onnx-b1", {"model.onnx": tiny_yolo_onnx(tmp / "b1.onnx", batch=1)}, batch={"static": 1}, onnx={"opset": 17}
    )
    write_package(root, "onnx-opset99", {"model.onnx": tiny_yolo_onnx(tmp / "o99.onnx", opset=99)}, onnx={"opset": 99})
    write_package(
        root,
        "trt-orin",
        {"model.engine": b"not really an engine"},
        backend="trt",
        quantization="fp16",
        batch={"min": 1, "opt": 4, "max": 8},
        trt={"version": "10.3.0", "gpu_name": "Orin", "compute_capability": "8.7", "l4t_version": "36.3"},
    )
    return root


def end2end_onnx(path: Path, rows: np.ndarray, size: int = 640) -> Path:
    """An NMS-free end-to-end export's layout: images [B,3,size,size] -> output0 [B, N, 6], the
    rows (x1 y1 x2 y2 score class, in input pixels) repeated for every image of the batch."""
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", len(rows), 6])
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Reshape", ["nothing", "b11"], ["base"]),
        helper.make_node("Add", ["base", "rows"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, np.float32), "zero"),
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "b11"),
        numpy_helper.from_array(rows.astype(np.float32)[None], "rows"),
    ]
    model = helper.make_model(helper.make_graph(nodes, "e2e", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {
        "names": repr(dict(enumerate(CLASS_NAMES))),
        "imgsz": f"[{size}, {size}]",
        "task": "detect",
        "stride": "32",
        "end2end": "True",
    }.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
    return path
