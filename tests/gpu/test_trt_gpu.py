"""Real TensorRT on a real GPU: `pytest -m gpu`. Skipped where tensorrt, a CUDA binding or an
NVIDIA GPU is missing (so everywhere in CI without a GPU).

Builds engines from a small ONNX graph and from nudenet's YOLOv8n with vigil's builder, runs them
with vigil's runtime and compares the raw outputs with onnxruntime on the same tensors:
max |difference| <= 1e-3 in fp32, <= 1e-2 in fp16. (The fp16 bound applies to the small graph;
YOLOv8n's box coordinates are in input pixels, where fp16 rounding alone is larger, so the YOLO
fp16 check compares detections instead.)
"""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.model_packages import tiny_yolo_onnx, write_model_json, write_package
from vigil.engine import AutoModel
from vigil.engine._private import importers, trt_build
from vigil.engine._private.environment import current_environment
from vigil.engine._private.package_format import read_model_dir
from vigil.engine._private.trt_runtime import TrtRunner

pytestmark = pytest.mark.gpu


def _skip_reason() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "tensorrt is not installed"
    if importlib.util.find_spec("cuda") is None and importlib.util.find_spec("pycuda") is None:
        return "no CUDA Python binding (cuda-python or pycuda)"
    if not current_environment().has_gpu:
        return "no NVIDIA GPU found"
    return None


_REASON = _skip_reason()
if _REASON:
    pytestmark = [pytest.mark.gpu, pytest.mark.skip(reason=_REASON)]


@pytest.fixture(autouse=True)
def _home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path_factory.getbasetemp() / "vigil-home"))  # timing cache shared by the tests


def build(root: Path, *, fp16: bool, batch: tuple[int, int, int]) -> Path:
    model, packages = read_model_dir(root)
    onnx_package = trt_build.choose_onnx_package(packages, batch)
    built = trt_build.build_engine_package(
        model,
        onnx_package,
        root / onnx_package.package_id,
        root,
        trt_build.BuildRequest(batch=batch, fp16=fp16),
        current_environment(),
    )
    return built.folder


def compare_raw(onnx_path: Path, engine_folder: Path, shape: tuple[int, ...], tolerance: float) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    runner = TrtRunner((engine_folder / "model.engine").read_bytes(), name=str(engine_folder))
    rng = np.random.default_rng(0)
    tensor = rng.random(shape, dtype=np.float32)
    expected = session.run(None, {session.get_inputs()[0].name: tensor})
    actual = runner.run({runner.inputs[0].name: tensor})
    runner.close()
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        diff = float(np.max(np.abs(a.astype(np.float32) - e)))
        assert diff <= tolerance, f"max |TensorRT - onnxruntime| = {diff} > {tolerance}"


@pytest.mark.parametrize("fp16, tolerance", [(False, 1e-3), (True, 1e-2)], ids=["fp32", "fp16"])
def test_gpu_small_onnx_engine_matches_onnxruntime(tmp_path, fp16, tolerance):
    root = write_model_json(tmp_path / "tiny")
    onnx_path = tiny_yolo_onnx(tmp_path / "tiny.onnx")
    write_package(root, "onnx-dyn", {"model.onnx": onnx_path}, batch={"min": 1, "max": None}, onnx={"opset": 17})
    folder = build(root, fp16=fp16, batch=(1, 2, 4))
    for n in (1, 3, 4):
        compare_raw(onnx_path, folder, (n, 3, 64, 64), tolerance)


@pytest.fixture(scope="module")
def yolov8n_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    nudenet = Path(str(importlib.resources.files("nudenet") / "320n.onnx"))
    return importers.import_ultralytics_onnx(nudenet, tmp_path_factory.mktemp("yolo") / "yolov8n")


def test_gpu_yolov8n_fp32_engine_matches_onnxruntime(yolov8n_dir):
    folder = build(yolov8n_dir, fp16=False, batch=(1, 2, 4))
    model, packages = read_model_dir(yolov8n_dir)
    onnx_package = next(p for p in packages if p.backend.value == "onnx")
    h, w = model.input.size
    compare_raw(yolov8n_dir / onnx_package.package_id / "model.onnx", folder, (2, 3, h, w), 1e-3)


def test_gpu_yolov8n_fp16_engine_detects_like_onnxruntime(yolov8n_dir):
    from tests.conftest import photo

    build(yolov8n_dir, fp16=True, batch=(1, 2, 4))
    trt_model = AutoModel.from_pretrained(yolov8n_dir, backend="trt", quantization="fp16", resolution_cache_ttl_s=0)
    onnx_model = AutoModel.from_pretrained(yolov8n_dir, backend="onnx", resolution_cache_ttl_s=0)
    frames = [photo("astronaut"), photo("coffee")]
    for t, o in zip(trt_model(frames), onnx_model(frames)):
        assert len(t) == len(o)
        np.testing.assert_array_equal(t.class_id, o.class_id)
        np.testing.assert_allclose(t.confidence, o.confidence, atol=1e-2)
        np.testing.assert_allclose(t.xyxy, o.xyxy, atol=2.0)  # pixels of the original photo


def test_gpu_bench_pipeline_runs_on_the_tensorrt_package(yolov8n_dir, tmp_path):
    """bench/pipeline.py end to end on the engine package: decode -> batch -> TensorRT -> JSONL,
    against the same engine run raw. Prints the figures for the issue note."""
    import json
    import subprocess
    import sys

    build(yolov8n_dir, fp16=True, batch=(1, 4, 8))
    model, _ = read_model_dir(yolov8n_dir)
    out = tmp_path / "bench.json"
    repo = Path(__file__).resolve().parents[2]
    subprocess.run(
        [
            sys.executable,
            "bench/pipeline.py",
            "--model",
            str(yolov8n_dir),
            "--backend",
            "trt",
            "--image-size",
            str(model.input.size[0]),
            "--clips",
            "2",
            "--frames",
            "60",
            "--max-batch",
            "4",
            "--raw-batches",
            "1,4,8",
            "--json",
            str(out),
        ],
        check=True,
        cwd=repo,
        timeout=900,
    )
    figures = json.loads(out.read_text())
    print(figures)
    assert figures["backend"] == "trt" and figures["frames"] == 120
    assert figures["pipeline_fps"] > 0 and figures["raw_fps"] > 0 and 0 < figures["ratio"]
