"""A model backend declared at run time, as a plugin would: one loader plus one catalog entry.

The `fake` backend's loader wraps ONNX Runtime (vigil's YOLO ONNX class) on a real tiny ONNX
graph; its package sits beside an `onnx` package of the same graph in one model directory.
The resolver ranks, picks and refuses it from its declaration alone, and `AutoModel` loads it
through its declared loader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.model_packages import tiny_yolo_onnx, write_model_json, write_package
from vigil.catalog import CATALOG, BackendKind, NoSettings
from vigil.engine import AutoModel
from vigil.engine._private.environment import probe_environment
from vigil.engine.developer_tools import ResolutionRequest, read_model_dir, resolve
from vigil.engine.models.yolo.yolo_detection_onnx import YOLODetectionONNX
from vigil.errors import ModelResolutionError

IMAGE = np.random.default_rng(3).integers(0, 255, (48, 80, 3), dtype=np.uint8)
INSTALL = "pip install vigil-fake-runtime (a test's runtime)"
LOADED: list[str] = []  # package ids the fake loader loaded


def load_fake_backend_for_test(model: Any, package: Any, folder: Path, options: Any, backend: Any) -> Any:
    """The fake backend's loader: ONNX Runtime on the package's .onnx file, noted in LOADED."""
    LOADED.append(package.package_id)
    return YOLODetectionONNX.from_package(model, package, folder, options, backend)


def fake_backend(*, rank: int, installed: bool = True) -> BackendKind:
    return BackendKind(
        "fake",
        NoSettings,
        load_fake_backend_for_test,
        label="the fake runtime",
        models=(("yolo", "detect", ""),),  # its own loader makes the model
        distributions=("onnxruntime",) if installed else ("vigil-fake-runtime-not-installed",),
        unavailable=INSTALL,
        devices=("cpu",),
        rank=rank,
        rank_why="a test's backend",
        files=(".onnx",),
    )


@pytest.fixture
def declare() -> Iterator[Any]:
    def _declare(**facts: Any) -> BackendKind:
        return CATALOG.backends.register(fake_backend(**facts))

    LOADED.clear()
    yield _declare
    CATALOG.backends.unregister("fake")


@pytest.fixture
def model_dir(tmp_path: Path, declare: Any) -> Path:
    """An `onnx` and a `fake` package of one tiny ONNX graph (a `fake` package.json needs the
    backend declared to be read, so the directory is read after `declare`)."""
    graph = tiny_yolo_onnx(tmp_path / "tiny.onnx")
    root = write_model_json(tmp_path / "tiny")
    write_package(root, "onnx-dyn", {"model.onnx": graph}, batch={"min": 1, "max": 8}, onnx={"opset": 17})
    write_package(root, "fake-dyn", {"model.onnx": graph}, backend="fake", batch={"min": 1, "max": 8})
    return root


def test_ranked_first_the_plugin_backend_is_picked_and_loaded_through_its_loader(declare: Any, model_dir: Path) -> None:
    declare(rank=5)
    env = probe_environment()
    assert "fake" in env.backends  # its probe: onnxruntime's distribution is installed
    _, packages = read_model_dir(model_dir)
    ranked = [c.package.package_id for c in resolve(packages, ResolutionRequest(), env).candidates]
    assert ranked == ["fake-dyn", "onnx-dyn"]

    model = AutoModel.from_pretrained(model_dir, environment=env)
    assert (model.package_id, LOADED) == ("fake-dyn", ["fake-dyn"])
    reference = AutoModel.from_pretrained(model_dir, backend="onnx", environment=env)
    assert reference.package_id == "onnx-dyn" and LOADED == ["fake-dyn"]
    got, want = model([IMAGE, IMAGE])[0], reference([IMAGE])[0]
    np.testing.assert_array_equal(got.xyxy, want.xyxy)
    np.testing.assert_array_equal(got.class_id, want.class_id)


def test_ranked_last_it_runs_only_when_asked_for_by_name(declare: Any, model_dir: Path) -> None:
    declare(rank=500)
    env = probe_environment()
    assert AutoModel.from_pretrained(model_dir, environment=env).package_id == "onnx-dyn"
    assert LOADED == []
    model = AutoModel.from_pretrained(model_dir, backend="fake", environment=env)
    assert model.package_id == "fake-dyn" and LOADED == ["fake-dyn"]
    assert len(model([IMAGE])) == 1


def test_missing_by_its_probe_it_is_refused_with_its_declared_message(declare: Any, model_dir: Path) -> None:
    declare(rank=5, installed=False)
    env = probe_environment()
    assert "fake" not in env.backends and "onnx" in env.backends
    _, packages = read_model_dir(model_dir)
    resolution = resolve(packages, ResolutionRequest(), env)
    assert [c.package.package_id for c in resolution.candidates] == ["onnx-dyn"]
    assert [str(r) for r in resolution.refused] == [f"fake-dyn: backend 'fake' is not installed ({INSTALL})"]
    with pytest.raises(ModelResolutionError, match=re.escape(f"fake-dyn: backend 'fake' is not installed ({INSTALL})")):
        AutoModel.from_pretrained(model_dir, backend="fake", environment=env)
    assert LOADED == []
