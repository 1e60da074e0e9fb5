"""The TensorRT backend against a fake `tensorrt` with the TensorRT 10 API shape (no GPU here).

Every test name says "fake": these check vigil's logic (shapes, profiles, buffers, batch checks,
package output), not TensorRT itself; tests/gpu/test_trt_gpu.py does that on a GPU.
"""

from __future__ import annotations

import builtins
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.model_packages import tiny_yolo_onnx, write_model_json, write_package
from tests.support import fake_tensorrt
from vigil.engine import AutoModel
from vigil.engine._private import trt_runtime
from vigil.engine._private.environment import GpuInfo, RuntimeEnvironment
from vigil.errors import MissingDependencyError, ModelInputError, ModelLoadError, VigilError

RTX = RuntimeEnvironment(
    backends={"onnx": "1.20.0", "trt": "10.3.0"},
    ort_providers=("CPUExecutionProvider",),
    gpus=(GpuInfo("NVIDIA GeForce RTX 4090", "8.9"),),
    trt_version="10.3.0",
    machine="x86_64",
)


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch) -> fake_tensorrt.FakeDevice:
    device = fake_tensorrt.FakeDevice()
    monkeypatch.setattr(trt_runtime, "_IMPORT_HOOK", lambda: (fake_tensorrt, device))
    return device


def engine_blob(onnx_path: Path, batch: tuple[int, int, int] = (1, 4, 8), size: int = 64, **flags: object) -> bytes:
    lo, opt, hi = batch
    profile = {"images": [[lo, 3, size, size], [opt, 3, size, size], [hi, 3, size, size]]}
    return fake_tensorrt.pack_engine(onnx_path.read_bytes(), profile, **flags)


def trt_model_dir(tmp_path: Path, batch: tuple[int, int, int] = (1, 4, 8), declared: dict | None = None, **flags: object) -> Path:
    root = write_model_json(tmp_path / "model")
    onnx_path = tiny_yolo_onnx(tmp_path / "tiny.onnx")
    write_package(root, "onnx-dyn", {"model.onnx": onnx_path}, batch={"min": 1, "max": None}, onnx={"opset": 17})
    lo, opt, hi = batch
    write_package(
        root,
        "trt-rtx",
        {"model.engine": engine_blob(onnx_path, batch, **flags)},
        backend="trt",
        batch=declared or {"min": lo, "opt": opt, "max": hi},
        trt={"version": "10.3.0", "gpu_name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"},
    )
    return root


def images(n: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (48 + 8 * i, 64, 3), dtype=np.uint8) for i in range(n)]


def load(root: Path, backend: str, **kw: object):
    return AutoModel.from_pretrained(root, backend=backend, environment=RTX, resolution_cache_ttl_s=0, confidence=0.0, **kw)


def assert_same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.xyxy, y.xyxy, atol=1e-4)
        np.testing.assert_allclose(x.confidence, y.confidence, atol=1e-6)
        np.testing.assert_array_equal(x.class_id, y.class_id)


def test_fake_trt_package_detects_like_the_onnx_package(tmp_path, fake_trt):
    root = trt_model_dir(tmp_path)
    onnx_model, trt_model = load(root, "onnx"), load(root, "trt")
    assert type(trt_model).__name__ == "YOLODetectionTRT" and trt_model.package_id == "trt-rtx"
    frames = images(3)
    trt_out, onnx_out = trt_model(frames), onnx_model(frames)
    assert sum(len(d) for d in trt_out) > 0
    assert_same(trt_out, onnx_out)
    assert fake_trt.syncs >= 1 and fake_trt.allocated  # device buffers and a stream were used


def test_fake_trt_dynamic_shapes_are_set_within_the_profile(tmp_path, fake_trt):
    model = load(trt_model_dir(tmp_path), "trt")
    model(images(3))
    model(images(1))
    runner = model._session.runner
    shapes = [s for slot in runner._slots for s in slot.context.shapes_set]
    assert ("images", (3, 3, 64, 64)) in shapes and ("images", (1, 3, 64, 64)) in shapes


def test_fake_trt_pinned_host_buffers_are_freed_when_they_grow_and_at_close(tmp_path, fake_trt):
    model = load(trt_model_dir(tmp_path), "trt")
    model(images(1))
    after_one = len(fake_trt.host_buffers)
    model(images(4))  # larger buffers: the smaller pinned ones must be given back
    assert after_one > 0 and len(fake_trt.host_buffers) <= 2 * after_one  # one per tensor per context, no pile-up
    model._session.runner.close()
    assert fake_trt.host_buffers == set()


def test_fake_trt_batch_above_the_profile_max_runs_in_chunks(tmp_path, fake_trt):
    root = trt_model_dir(tmp_path, batch=(1, 2, 2))
    trt_model, onnx_model = load(root, "trt"), load(root, "onnx")
    frames = images(5)
    assert_same(trt_model(frames), onnx_model(frames))
    contexts = [slot.context for slot in trt_model._session.runner._slots]
    assert sum(c.executions for c in contexts) == 3  # 2 + 2 + 1
    assert all(shape[0] <= 2 for c in contexts for _, shape in c.shapes_set)


def test_fake_trt_runner_refuses_a_batch_outside_the_profile_clearly(tmp_path, fake_trt):
    model = load(trt_model_dir(tmp_path, batch=(1, 2, 2)), "trt")
    with pytest.raises(ModelInputError, match=r"outside the engine's optimisation profile \[1, 3, 64, 64\]..\[2, 3, 64, 64\]"):
        model._session.run(None, {"images": np.zeros((3, 3, 64, 64), np.float32)})


def test_fake_trt_profile_and_package_json_batch_mismatch_is_refused(tmp_path, fake_trt):
    root = trt_model_dir(tmp_path, batch=(1, 4, 8), declared={"min": 1, "max": 16})
    with pytest.raises(ModelLoadError) as info:
        load(root, "trt")
    text = str(info.value)
    assert "package.json says batch 1..16" in text and "profile takes batch 1..8 (opt 4)" in text


def test_fake_trt_static_profile_matches_static_package_and_pads(tmp_path, fake_trt):
    root = trt_model_dir(tmp_path, batch=(4, 4, 4), declared={"static": 4})
    trt_model, onnx_model = load(root, "trt"), load(root, "onnx")
    assert trt_model.batch.static and trt_model.batch.max == 4
    frames = images(2)
    assert_same(trt_model(frames), onnx_model(frames))


def test_fake_trt_concurrent_inferences_use_separate_contexts(tmp_path, fake_trt):
    import threading

    model = load(trt_model_dir(tmp_path), "trt")
    runner = model._session.runner
    barrier = threading.Barrier(2)
    first = runner._acquire()  # hold one context, as a running inference would
    errors: list[BaseException] = []

    def other() -> None:
        try:
            barrier.wait(5)
            runner.run({"images": np.zeros((1, 3, 64, 64), np.float32)})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    barrier.wait(5)
    thread.join(10)
    runner._idle.put(first)
    assert not errors and len(runner._slots) == 2
    assert {id(s.context) for s in runner._slots} == {id(c) for c in runner.engine.contexts}


def test_fake_trt_damaged_engine_is_refused_with_rebuild_hint(tmp_path, fake_trt):
    root = write_model_json(tmp_path / "model")
    write_package(
        root,
        "trt-rtx",
        {"model.engine": b"garbage"},
        backend="trt",
        trt={"version": "10.3.0", "gpu_name": "NVIDIA GeForce RTX 4090"},
    )
    with pytest.raises(ModelLoadError, match="could not deserialise the engine.*build-engine"):
        load(root, "trt")


def test_fake_trt_host_code_engine_needs_untrusted_permission(tmp_path, fake_trt):
    root = write_model_json(tmp_path / "model")
    onnx_path = tiny_yolo_onnx(tmp_path / "tiny.onnx")
    write_package(
        root,
        "trt-host",
        {"model.engine": engine_blob(onnx_path, host_code=True)},
        backend="trt",
        batch={"min": 1, "opt": 4, "max": 8},
        trt={"version": "10.3.0", "gpu_name": "NVIDIA GeForce RTX 4090", "host_code": True},
    )
    with pytest.raises(Exception, match="carries executable code"):
        load(root, "trt")
    model = load(root, "trt", allow_untrusted=True)  # declared and allowed: the runtime may run it
    assert len(model(images(1))) == 1


def test_fake_trt_undeclared_host_code_is_not_run(tmp_path, fake_trt):
    root = write_model_json(tmp_path / "model")
    onnx_path = tiny_yolo_onnx(tmp_path / "tiny.onnx")
    write_package(
        root,
        "trt-sneaky",
        {"model.engine": engine_blob(onnx_path, host_code=True)},
        backend="trt",
        batch={"min": 1, "opt": 4, "max": 8},
        trt={"version": "10.3.0", "gpu_name": "NVIDIA GeForce RTX 4090"},
    )
    with pytest.raises(ModelLoadError, match="could not deserialise"):
        load(root, "trt")


def test_fake_trt_missing_tensorrt_gives_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(trt_runtime, "_IMPORT_HOOK", None)
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'vigil-analytics\[trt\]'.*JetPack"):
        trt_runtime.load_tensorrt()
    root = trt_model_dir(tmp_path)
    with pytest.raises(VigilError, match="trt-rtx: failed to load: TensorRT is not installed"):
        load(root, "trt")  # the loader reports the MissingDependencyError next to the refused onnx package


def test_fake_trt_missing_cuda_binding_gives_a_hint(monkeypatch):
    monkeypatch.setattr(trt_runtime, "_IMPORT_HOOK", None)
    real_import = builtins.__import__

    def no_cuda(name, *args, **kwargs):
        if name.split(".")[0] in ("cuda", "pycuda"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cuda)
    with pytest.raises(MissingDependencyError, match="pip install cuda-python"):
        trt_runtime.default_device()


def test_fake_trt_vigil_engine_import_does_not_import_tensorrt():
    import subprocess

    code = (
        "import sys, vigil.engine, vigil.engine._private.trt_runtime, vigil.engine.models.yolo.yolo_detection_trt; "
        "print([m for m in ('tensorrt', 'pycuda', 'cuda') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
