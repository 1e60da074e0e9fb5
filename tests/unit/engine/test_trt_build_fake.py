"""`vigil models build-engine` against the fake TensorRT builder: the package it writes, and that
package through the resolver on simulated machines (same device, other GPU, other TensorRT,
other L4T) and through the fake runtime."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.model_packages import tiny_yolo_onnx, write_model_json, write_package
from tests.support import fake_tensorrt
from vigil.cli import main as cli
from vigil.cli import models as cli_models
from vigil.engine import AutoModel
from vigil.engine._private import trt_build, trt_runtime
from vigil.engine._private.environment import GpuInfo, RuntimeEnvironment
from vigil.engine._private.package_format import read_model_dir
from vigil.engine._private.resolver import ResolutionRequest, resolve
from vigil.errors import ConfigError

ORIN = RuntimeEnvironment(
    backends={"onnx": "1.20.0", "trt": "10.3.0"},
    ort_providers=("CPUExecutionProvider",),
    gpus=(GpuInfo("NVIDIA Jetson AGX Orin", "8.7"),),
    trt_version="10.3.0",
    l4t_version="36.3.0",
    machine="aarch64",
)
ORIN_OTHER_TRT = RuntimeEnvironment(**{**ORIN.__dict__, "backends": {"onnx": "1.20.0", "trt": "10.7.0"}, "trt_version": "10.7.0"})
ORIN_JP5 = RuntimeEnvironment(**{**ORIN.__dict__, "l4t_version": "35.4.1"})
XAVIER = RuntimeEnvironment(**{**ORIN.__dict__, "gpus": (GpuInfo("NVIDIA Jetson AGX Xavier", "7.2"),)})
RTX = RuntimeEnvironment(
    backends={"onnx": "1.20.0", "trt": "10.3.0"},
    ort_providers=("CPUExecutionProvider",),
    gpus=(GpuInfo("NVIDIA GeForce RTX 4090", "8.9"),),
    trt_version="10.3.0",
    machine="x86_64",
)


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> fake_tensorrt.FakeDevice:
    device = fake_tensorrt.FakeDevice()
    monkeypatch.setattr(trt_runtime, "_IMPORT_HOOK", lambda: (fake_tensorrt, device))
    monkeypatch.setattr(cli_models, "current_environment", lambda: ORIN)
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "home"))
    return device


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    root = write_model_json(tmp_path / "model")
    write_package(
        root, "onnx-dyn", {"model.onnx": tiny_yolo_onnx(tmp_path / "dyn.onnx")}, batch={"min": 1, "max": None}, onnx={"opset": 17}
    )
    write_package(
        root, "onnx-b1", {"model.onnx": tiny_yolo_onnx(tmp_path / "b1.onnx", batch=1)}, batch={"static": 1}, onnx={"opset": 17}
    )
    return root


def build(model_dir: Path, *extra: str) -> int:
    return cli.main(["models", "build-engine", str(model_dir), *extra])


def test_fake_build_engine_writes_a_package_with_its_requirements(model_dir, fake_trt, tmp_path, capfd):
    assert build(model_dir, "--fp16", "--batch", "1,2,4", "--workspace-mb", "256") == 0
    folder = model_dir / "trt-jetson-agx-orin-fp16-b1-4"
    body = json.loads((folder / "package.json").read_text())
    assert body["backend"] == "trt" and body["quantization"] == "fp16"
    assert body["batch"] == {"min": 1, "opt": 2, "max": 4}
    assert body["trt"] == {
        "version": "10.3.0",
        "gpu_name": "NVIDIA Jetson AGX Orin",
        "compute_capability": "8.7",
        "l4t_version": "36.3.0",
        "has_plugins": False,
        "host_code": False,
    }
    assert {f["name"] for f in body["files"]} == {"model.engine", "metadata.json"}
    assert json.loads((folder / "metadata.json").read_text())["task"] == "detect"
    cache = trt_build.timing_cache_path("10.3.0", "NVIDIA Jetson AGX Orin")
    assert cache.is_file() and cache.is_relative_to(tmp_path / "home")
    err = capfd.readouterr().err
    assert "parsing model.onnx" in err and "building the fp16 engine for NVIDIA Jetson AGX Orin, batch 1..4" in err
    assert "TensorRT phase 'Building engine'" in err and " s] " in err


def test_fake_build_engine_timing_cache_persists_between_builds(model_dir, fake_trt):
    assert build(model_dir) == 0
    cache = trt_build.timing_cache_path("10.3.0", "NVIDIA Jetson AGX Orin")
    first = cache.read_bytes()
    assert build(model_dir, "--batch", "2") == 0
    assert cache.read_bytes().startswith(first) and len(cache.read_bytes()) > len(first)  # reused, then extended


@pytest.mark.parametrize(
    "env, refused_with",
    [
        (ORIN, None),
        (
            XAVIER,
            "engine built for NVIDIA Jetson AGX Orin (cc 8.7), needs the same GPU model; this machine has NVIDIA Jetson AGX Xavier (cc 7.2)",
        ),
        (ORIN_OTHER_TRT, "engine built with TensorRT 10.3.0, installed 10.7.0; rebuild it here (vigil models build-engine)"),
        (ORIN_JP5, "engine built on Jetson L4T 36.3.0, this machine is L4T 35.4.1"),
        (RTX, "engine built on Jetson L4T 36.3.0, this machine is not a Jetson"),
    ],
    ids=["same-device", "other-gpu", "other-tensorrt", "other-l4t", "not-a-jetson"],
)
def test_fake_built_package_round_trips_through_the_resolver(model_dir, fake_trt, env, refused_with):
    assert build(model_dir, "--fp16") == 0
    _, packages = read_model_dir(model_dir)
    resolution = resolve(packages, ResolutionRequest(), env)
    trt_id = "trt-jetson-agx-orin-fp16-b1-8"
    refused = {r.package_id: "; ".join(r.reasons) for r in resolution.refused}
    if refused_with is None:
        assert resolution.candidates[0].package.package_id == trt_id
    else:
        assert refused_with in refused[trt_id]
        assert resolution.candidates[0].package.backend.value == "onnx"


def test_fake_built_package_loads_and_detects_like_the_onnx_package(model_dir, fake_trt):
    assert build(model_dir, "--batch", "1,2,4") == 0
    trt_model = AutoModel.from_pretrained(model_dir, backend="trt", environment=ORIN, resolution_cache_ttl_s=0, confidence=0.0)
    onnx_model = AutoModel.from_pretrained(model_dir, backend="onnx", environment=ORIN, resolution_cache_ttl_s=0, confidence=0.0)
    assert trt_model.package_id == "trt-jetson-agx-orin-fp32-b1-4"
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (60, 64, 3), dtype=np.uint8) for _ in range(5)]
    for a, b in zip(trt_model(frames), onnx_model(frames)):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-4)
        np.testing.assert_array_equal(a.class_id, b.class_id)


def test_fake_build_engine_int8_calibrates_from_a_folder(model_dir, fake_trt, tmp_path, monkeypatch):
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(3):
        cv2.imwrite(str(calib / f"{i}.png"), np.full((40, 50, 3), 40 * i, np.uint8))
    builders: list[fake_tensorrt.Builder] = []

    class Recording(fake_tensorrt.Builder):
        def __init__(self, logger):
            super().__init__(logger)
            builders.append(self)

    monkeypatch.setattr(fake_tensorrt, "Builder", Recording)
    assert build(model_dir, "--int8", "--calibration", str(calib), "--batch", "1") == 0
    body = json.loads((model_dir / "trt-jetson-agx-orin-int8-b1-1" / "package.json").read_text())
    assert body["quantization"] == "int8" and body["batch"] == {"static": 1}
    assert builders[0].calibration_batches == 3


def test_fake_build_engine_static_batch_uses_the_static_onnx_package(model_dir, fake_trt):
    _, packages = read_model_dir(model_dir)
    assert trt_build.choose_onnx_package(packages, (1, 1, 1)).package_id == "onnx-dyn"  # a dynamic graph first
    only_static = [p for p in packages if p.package_id == "onnx-b1"]
    assert trt_build.choose_onnx_package(only_static, (1, 1, 1)).package_id == "onnx-b1"
    with pytest.raises(ConfigError, match=r"no ONNX package accepts batch 1..8: onnx-b1 \(batch static 1\)"):
        trt_build.choose_onnx_package(only_static, (1, 4, 8))


RTX_TRT11 = RuntimeEnvironment(**{**RTX.__dict__, "backends": {"onnx": "1.20.0", "trt": "11.4.0"}, "trt_version": "11.4.0"})


def engine_graph_flags(folder: Path) -> dict[str, bool]:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO((folder / "model.engine").read_bytes())) as zf:
        return json.loads(zf.read("profile.json"))["flags"]


def test_fake_tensorrt_11_fp16_build_converts_the_graph_instead_of_a_builder_flag(model_dir, fake_trt, monkeypatch, capfd):
    fake_tensorrt.as_tensorrt_11(monkeypatch)
    monkeypatch.setattr(cli_models, "current_environment", lambda: RTX_TRT11)
    assert build(model_dir, "--fp16", "--batch", "1,2,4") == 0  # BuilderFlag.FP16 would be an AttributeError
    folder = model_dir / "trt-geforce-rtx-4090-fp16-b1-4"
    body = json.loads((folder / "package.json").read_text())
    assert body["quantization"] == "fp16" and body["trt"]["version"] == "11.4.0"
    assert engine_graph_flags(folder) == {"graph_fp16": True, "graph_qdq": False}
    assert "converting the graph to fp16" in capfd.readouterr().err
    trt_model = AutoModel.from_pretrained(
        model_dir, backend="trt", environment=RTX_TRT11, resolution_cache_ttl_s=0, confidence=0.0
    )
    onnx_model = AutoModel.from_pretrained(
        model_dir, backend="onnx", environment=RTX_TRT11, resolution_cache_ttl_s=0, confidence=0.0
    )
    frames = [np.random.default_rng(4).integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    for a, b in zip(trt_model(frames), onnx_model(frames)):
        np.testing.assert_array_equal(a.class_id, b.class_id)
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-2)  # fp16 arithmetic, fp32 at the edges


def test_fake_tensorrt_11_int8_build_calibrates_qdq_scales_into_the_graph(model_dir, fake_trt, monkeypatch, tmp_path, capfd):
    fake_tensorrt.as_tensorrt_11(monkeypatch)
    monkeypatch.setattr(cli_models, "current_environment", lambda: RTX_TRT11)
    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(5)
    for i in range(4):
        cv2.imwrite(str(calib / f"{i}.jpg"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    assert build(model_dir, "--int8", "--calibration", str(calib), "--batch", "1,2,4") == 0
    folder = model_dir / "trt-geforce-rtx-4090-int8-b1-4"
    assert json.loads((folder / "package.json").read_text())["quantization"] == "int8"
    assert engine_graph_flags(folder) == {"graph_fp16": False, "graph_qdq": True}
    assert "calibrating int8 Q/DQ scales" in capfd.readouterr().err
    model = AutoModel.from_pretrained(model_dir, backend="trt", environment=RTX_TRT11, resolution_cache_ttl_s=0, confidence=0.0)
    assert len(model([rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)])) == 1


def test_fake_build_engine_calibration_folder_errors_are_clear(model_dir, fake_trt, tmp_path, capfd):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build(model_dir, "--int8", "--calibration", str(empty)) != 0
    assert "no .jpg/.png images found" in capfd.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "0.jpg").write_bytes(b"not a jpeg")
    assert build(model_dir, "--int8", "--calibration", str(broken), "--batch", "1") != 0  # raised inside TensorRT's callback
    assert "cannot read" in capfd.readouterr().err and not (model_dir / "trt-jetson-agx-orin-int8-b1-1").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--int8"], "--int8 needs --calibration DIR"),
        (["--batch", "4,2,8"], "expected MIN <= OPT <= MAX"),
        (["--workspace-mb", "0"], "--workspace-mb must be >= 1"),
    ],
)
def test_fake_build_engine_refuses_bad_arguments(model_dir, fake_trt, capfd, args, message):
    assert build(model_dir, *args) != 0
    assert message in capfd.readouterr().err


def test_fake_build_engine_needs_a_model_directory(tmp_path, fake_trt, capfd):
    onnx_path = tiny_yolo_onnx(tmp_path / "bare.onnx")
    assert cli.main(["models", "build-engine", str(onnx_path)]) != 0
    assert "needs a model directory" in capfd.readouterr().err


def test_fake_build_engine_without_a_gpu_says_so(model_dir, fake_trt, monkeypatch, capfd):
    monkeypatch.setattr(cli_models, "current_environment", lambda: RuntimeEnvironment(backends={"trt": "10.3.0"}))
    assert build(model_dir) != 0
    assert "needs an NVIDIA GPU" in capfd.readouterr().err


async def test_fake_trt_daemon_builds_the_engine_at_start_and_tells_systemd(model_dir, fake_trt, tmp_path, monkeypatch, clips):
    import asyncio
    import socket

    from vigil.config.api import ApiConfig
    from vigil.config.daemon import DaemonConfig
    from vigil.daemon.service import Daemon
    from vigil.engine import developer_tools
    from vigil.engine._private import loader

    monkeypatch.setattr(loader, "current_environment", lambda: ORIN)  # a Jetson Orin with TensorRT 10.3
    monkeypatch.setattr(developer_tools, "current_environment", lambda: ORIN)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify.sock"))
    listener.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    config = DaemonConfig.model_validate(
        {
            "model": {"path": str(model_dir), "tensorrt": {"build_engine": "auto"}},
            "sources": [{"name": "a", "url": str(clips["coffee"])}],
            "jsonl": {"path": str(tmp_path / "r.jsonl")},
            "batch": {"max_batch": 2},
        }
    )
    messages: list[str] = []

    async def hear() -> None:  # drained as it comes: a datagram queue holds only a few
        loop = asyncio.get_running_loop()
        while True:
            messages.append((await loop.sock_recv(listener, 4096)).decode())

    hearing = asyncio.create_task(hear())
    daemon = Daemon(config, ApiConfig(enabled=False))
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_ready(), 60)
    assert daemon.pipeline is not None and daemon.pipeline.model.package_id.startswith("trt-")
    while daemon.pipeline.report.sources["a"].results < 18:  # every frame of the file, on the engine
        await asyncio.sleep(0.05)
    daemon.stop()
    await asyncio.wait_for(task, 30)
    await asyncio.sleep(0.1)
    hearing.cancel()
    listener.close()
    building = [m for m in messages if m.startswith("STATUS=building TensorRT engine")]
    assert building and any(m.startswith("EXTEND_TIMEOUT_USEC=") for m in messages)
    assert messages.index(building[0]) < messages.index("READY=1")  # reported while starting
    built = [p for p in model_dir.iterdir() if p.name.startswith("trt-")]
    assert len(built) == 1 and (built[0] / "package.json").is_file()
    # The next start finds the engine and builds nothing.
    daemon = Daemon(config, ApiConfig(enabled=False))
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_ready(), 60)
    daemon.stop()
    await asyncio.wait_for(task, 30)
    assert [p.name for p in model_dir.iterdir() if p.name.startswith("trt-")] == [built[0].name]


@pytest.mark.parametrize(
    "export, kind",
    [
        ("yolov8n-seg.onnx", "YOLOSegmentationTRT"),
        ("yolov8n-pose.onnx", "YOLOPoseTRT"),
        ("yolov8n-cls.onnx", "YOLOClassificationTRT"),
    ],
)
def test_fake_engines_built_from_segment_pose_and_classify_exports_match_onnx(export, kind, golden_dir, fake_trt, tmp_path):
    from tests.conftest import photo

    model_dir = tmp_path / "model"
    assert cli.main(["models", "import", "--onnx", str(golden_dir / "models" / export), str(model_dir)]) == 0
    assert build(model_dir, "--batch", "1,1,2") == 0
    kwargs = dict(environment=ORIN, resolution_cache_ttl_s=0)
    trt_model = AutoModel.from_pretrained(model_dir, backend="trt", **kwargs)
    onnx_model = AutoModel.from_pretrained(model_dir, backend="onnx", **kwargs)
    assert type(trt_model).__name__ == kind
    frames = [np.ascontiguousarray(photo("astronaut")), np.ascontiguousarray(photo("coffee"))]
    for a, b in zip(trt_model(frames), onnx_model(frames)):
        if kind == "YOLOClassificationTRT":
            np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-5)
            continue
        assert len(a) == len(b) and len(a) > 0
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
        if kind == "YOLOSegmentationTRT":
            assert a.mask is not None and b.mask is not None and np.array_equal(a.mask, b.mask)
        else:
            np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
    trt_model.close()
