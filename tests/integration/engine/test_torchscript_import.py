"""`vigil models import --torchscript`: an Ultralytics-style TorchScript export (nudenet's YOLOv8n
converted in the test, with the `config.txt` metadata Ultralytics writes) becomes a package, in a
new model directory or beside the ONNX package of the same weights, and `vigil models resolve`
ranks both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see test_torchscript_parity.py
import torch

from tests.conftest import photo
from tests.support.onnx_to_torch import onnx_to_torchscript
from vigil.engine import AutoModel
from vigil.engine.developer_tools import import_ultralytics_torchscript
from vigil.errors import ModelLoadError


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def exported(nudenet_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return onnx_to_torchscript(nudenet_path, tmp_path_factory.mktemp("ts") / "320n.torchscript", with_metadata=True)


def test_import_beside_the_onnx_package_and_resolve_ranks_both(nudenet_path: Path, exported: Path, tmp_path: Path) -> None:
    root = tmp_path / "nudenet"
    assert vigil("models", "import", "--onnx", str(nudenet_path), str(root)).returncode == 0
    run = vigil("models", "import", "--torchscript", str(exported), str(root))
    assert run.returncode == 0, run.stderr
    package = json.loads((root / "torchscript" / "package.json").read_text())
    assert package["backend"] == "torchscript" and package["batch"] == {"min": 1, "max": None}
    resolved = vigil("models", "resolve", str(root), "--device", "cpu")
    assert resolved.returncode == 0, resolved.stderr
    rows = {line.split()[0]: line for line in resolved.stdout.splitlines()[2:]}
    assert "rank 1" in rows["onnx"] and "rank 2" in rows["torchscript"] and "torchscript" in rows["torchscript"].split()[1]
    preferred = vigil("models", "resolve", str(root), "--backend", "torchscript", "--backend", "onnx")
    rows = {line.split()[0]: line for line in preferred.stdout.splitlines()[2:]}
    assert "rank 1" in rows["torchscript"] and "rank 2" in rows["onnx"]
    (ours,), (ref,) = (AutoModel.from_pretrained(root, backend=b)([photo("astronaut")]) for b in ("torchscript", "onnx"))
    assert len(ours) == len(ref) >= 1 and ours.data["class_name"].tolist() == ref.data["class_name"].tolist()


def test_import_into_a_new_directory_reads_the_metadata_and_probes_the_shapes(exported: Path, tmp_path: Path) -> None:
    root = import_ultralytics_torchscript(exported, tmp_path / "new")
    model = json.loads((root / "model.json").read_text())
    assert model["task"] == "detect" and len(model["class_names"]) == 18 and "FACE_FEMALE" in model["class_names"]
    assert model["input"]["size"] == [320, 320] and model["input"]["dynamic_size"] is True
    detector = AutoModel.from_pretrained(root, image_size=640)
    assert detector.input_size == (640, 640) and detector.backend == "torchscript"


def test_a_fixed_size_trace_is_imported_as_fixed_and_refused_beside_a_dynamic_model(nudenet_path: Path, tmp_path: Path) -> None:
    class Fixed(torch.nn.Module):  # the twin, with the input size checked as a traced constant
        def __init__(self) -> None:
            super().__init__()
            self.inner = torch.jit.load(str(onnx_to_torchscript(nudenet_path, tmp_path / "inner.ts")))

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.inner(images.reshape(-1, 3, 320, 320))

    path = tmp_path / "fixed.torchscript"
    config = {"task": "detect", "stride": 32, "batch": 1, "imgsz": [320, 320], "names": {str(i): f"c{i}" for i in range(18)}}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is", DeprecationWarning)
        torch.jit.script(Fixed()).save(str(path), _extra_files={"config.txt": json.dumps(config)})
    root = import_ultralytics_torchscript(path, tmp_path / "fixed")
    assert json.loads((root / "model.json").read_text())["input"]["dynamic_size"] is False
    with pytest.raises(ModelLoadError, match="image_size 640x640 needs a dynamic export"):
        AutoModel.from_pretrained(root, image_size=640)
    onnx_dir = tmp_path / "onnx-model"
    assert vigil("models", "import", "--onnx", str(nudenet_path), str(onnx_dir)).returncode == 0
    with pytest.raises(ModelLoadError, match="cannot join|its input is fixed at 320x320, the model directory's is free in size"):
        import_ultralytics_torchscript(path, onnx_dir)


def test_a_torchscript_without_ultralytics_metadata_says_what_to_do(nudenet_path: Path, tmp_path: Path) -> None:
    bare = onnx_to_torchscript(nudenet_path, tmp_path / "bare.torchscript")
    run = vigil("models", "import", "--torchscript", str(bare), str(tmp_path / "out"))
    assert run.returncode != 0
    assert "no Ultralytics metadata (config.txt) inside" in run.stderr and "yolo export format=torchscript" in run.stderr
