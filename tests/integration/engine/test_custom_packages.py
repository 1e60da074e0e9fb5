"""Packages that bring their own code (examples/custom_model), and `vigil models import`."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from vigil.engine import AutoModel, ClassificationModel
from vigil.errors import ModelLoadError, ModelResolutionError

EXAMPLE = REPO / "examples" / "custom_model" / "brightness"


@pytest.fixture
def example(tmp_path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / "brightness"))


def rehash(package_dir: Path) -> None:
    meta = json.loads((package_dir / "package.json").read_text())
    for entry in meta["files"]:
        entry["sha256"] = hashlib.sha256((package_dir / entry["name"]).read_bytes()).hexdigest()
        entry["size"] = (package_dir / entry["name"]).stat().st_size
    (package_dir / "package.json").write_text(json.dumps(meta))


def test_documented_example_loads_when_untrusted_code_is_allowed(example):
    model = AutoModel.from_pretrained(example, allow_untrusted=True)
    assert isinstance(model, ClassificationModel) and model.package_id == "python"
    bright, dark = model([np.full((30, 40, 3), 220, np.uint8), np.full((30, 40, 3), 15, np.uint8)])
    assert (bright.class_name, dark.class_name) == ("bright", "dark")
    assert bright.confidence == pytest.approx(220 / 255, abs=1e-3)


def test_code_is_refused_without_permission_and_never_imported(example, tmp_path):
    marker = tmp_path / "imported"
    code = example / "python" / "model.py"
    code.write_text(code.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")
    rehash(example / "python")
    with pytest.raises(ModelResolutionError, match="carries executable code"):
        AutoModel.from_pretrained(example)
    assert not marker.exists()
    AutoModel.from_pretrained(example, allow_untrusted=True)
    assert marker.exists()  # the same file runs once allowed: the marker proves the check above


def test_tampered_code_is_not_executed(example, tmp_path):
    marker = tmp_path / "tampered"
    code = example / "python" / "model.py"
    code.write_text(code.read_text() + f"\nopen({str(marker)!r}, 'w').close()\n")  # hash no longer matches
    with pytest.raises(ModelLoadError, match="file 'model.py' has sha256"):
        AutoModel.from_pretrained(example, allow_untrusted=True)
    assert not marker.exists()


@pytest.mark.parametrize(
    "entrypoint, message",
    [
        ("other.py:BrightnessClassifier", "entrypoint file 'other.py' must be listed in files"),
        ("model.py:Missing", "must name a class with a from_package classmethod"),
        ("../model.py:X", "entrypoint"),
    ],
)
def test_bad_entrypoints_are_clear_errors(example, entrypoint, message):
    meta_path = example / "python" / "package.json"
    meta = json.loads(meta_path.read_text())
    meta["entrypoint"] = entrypoint
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=message):
        AutoModel.from_pretrained(example, allow_untrusted=True)


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True, timeout=60)


def test_models_import_wraps_an_ultralytics_export(tmp_path, nudenet_path, clips):
    out = tmp_path / "nudenet"
    proc = vigil("models", "import", "--onnx", str(nudenet_path), str(out))
    assert proc.returncode == 0, proc.stderr
    model = json.loads((out / "model.json").read_text())
    assert model["task"] == "detect" and model["class_names"][1] == "FACE_FEMALE"
    package = json.loads((out / "onnx" / "package.json").read_text())
    assert package["files"][0]["sha256"] == hashlib.sha256(nudenet_path.read_bytes()).hexdigest()
    run = vigil("run", "--model", str(out), "--source", str(clips["coffee"]), "--out", str(tmp_path / "r.jsonl"))
    assert run.returncode == 0, run.stderr
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 18
    again = vigil("models", "import", "--onnx", str(nudenet_path), str(out))
    assert again.returncode == 2 and "exists and is not empty" in again.stderr


def test_models_import_rapidocr_keeps_the_published_hashes(tmp_path):
    out = tmp_path / "ppocr"
    proc = vigil("models", "import", "--rapidocr", str(out))
    assert proc.returncode == 0, proc.stderr
    files = {f["name"]: f["sha256"] for f in json.loads((out / "onnx" / "package.json").read_text())["files"]}
    assert files == {  # shared/golden/README.md lists these for rapidocr-onnxruntime 1.4.4
        "det.onnx": "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        "cls.onnx": "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        "rec.onnx": "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    }
    assert json.loads((out / "model.json").read_text())["task"] == "ocr"
