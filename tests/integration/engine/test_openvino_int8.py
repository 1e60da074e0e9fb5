"""`vigil models convert --to openvino --int8` on the real nudenet YOLOv8n: NNCF's post-training
quantization calibrated on real scenes, its agreement with the fp32 ONNX package and its speedup
over OpenVINO fp32 measured on held-out images and recorded in package.json, and enforced by the
resolver as for the ONNX int8 packages (`min_int8_agreement`, VNNI, `quantization:` forcing it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.scenes import write_scenes
from vigil.engine import AutoModel
from vigil.engine._private.quantize import _detect, read_calibration_images
from vigil.engine.developer_tools import current_environment, detection_agreement, import_ultralytics_onnx, read_model_dir

SCENES = 48  # 36 calibrate, 12 held out


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def quantized(
    nudenet_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """(model directory with onnx, openvino-fp32 and openvino-int8, the calibration folder, the int8 run)."""
    work = tmp_path_factory.mktemp("ov-int8")
    root = import_ultralytics_onnx(nudenet_path, work / "model")
    calibration = write_scenes(work / "calibration", SCENES)
    fp32 = vigil("models", "convert", str(root), "--to", "openvino")
    assert fp32.returncode == 0, fp32.stderr
    run = vigil("models", "convert", str(root), "--to", "openvino", "--int8", "--calibration", str(calibration), "--threads", "2")
    assert run.returncode == 0, run.stderr
    return root, calibration, run


def with_agreement(model_dir: Path, tmp_path: Path, agreement: float) -> Path:
    """A copy of the model directory whose openvino-int8 package records `agreement`."""
    root = Path(shutil.copytree(model_dir, tmp_path / "model"))
    path = root / "openvino-int8" / "package.json"
    body = json.loads(path.read_text())
    body["int8"]["agreement"] = agreement
    path.write_text(json.dumps(body))
    return root


def test_the_int8_package_records_what_was_measured(quantized) -> None:
    root, _, run = quantized
    package = {p.package_id: p for p in read_model_dir(root)[1]}["openvino-int8"]
    measured = package.int8
    assert package.backend == "openvino" and package.quantization.value == "int8" and measured is not None
    assert (measured.reference, measured.format, measured.calibration_images, measured.evaluation_images) == (
        "onnx",
        "fakequantize",
        36,
        12,
    )
    assert measured.agreement >= 0.9 and measured.speedup > 0 and list(measured.input_size or ()) == [320, 320]
    assert "against OpenVINO fp32" in measured.measured_on and "batch 4, 2 threads" in measured.measured_on
    assert f"agreement {measured.agreement:.3f} (F1 on 12 held-out images)" in run.stdout
    assert "quantizing with NNCF" in run.stderr and "INFO:nncf" not in run.stderr  # vigil's phases, not NNCF's log
    xml = (root / "openvino-int8" / "model.xml").read_text()
    assert xml.count('type="FakeQuantize"') >= 50  # the convolutions run in int8
    assert 'type="FakeQuantize"' not in (root / "openvino-fp32" / "model.xml").read_text()


def test_the_recorded_agreement_is_what_the_package_gives_on_the_held_out_images(quantized) -> None:
    root, calibration, _ = quantized
    _, images = read_calibration_images(calibration)
    held_out = [img for i, img in enumerate(images) if i % 4 == 3]
    fp32 = AutoModel.from_pretrained(root, backend="onnx", package_id="onnx", intra_op_threads=2)
    int8 = AutoModel.from_pretrained(root, backend="openvino", package_id="openvino-int8", intra_op_threads=2)
    agreement = detection_agreement(_detect(fp32, held_out, 4), _detect(int8, held_out, 4))
    recorded = {p.package_id: p for p in read_model_dir(root)[1]}["openvino-int8"].int8
    assert recorded is not None and abs(agreement - recorded.agreement) <= 1e-4
    assert sum(len(d) for d in _detect(fp32, held_out, 4)) >= 12, "the held-out scenes should hold people to compare"


@pytest.mark.parametrize(
    ("vnni", "agreement", "chosen"),
    [(True, 0.99, "openvino-int8"), (True, 0.9, "openvino-fp32"), (False, 0.99, "openvino-fp32")],
)
def test_the_resolver_runs_int8_first_only_on_vnni_with_enough_agreement(quantized, tmp_path, vnni, agreement, chosen) -> None:
    root = with_agreement(quantized[0], tmp_path, agreement)
    env = replace(current_environment(), cpu_vnni=vnni, gpus=())
    model = AutoModel.from_pretrained(root, backend="openvino", device="cpu", environment=env, resolution_cache_ttl_s=0)
    assert model.package_id == chosen
    forced = AutoModel.from_pretrained(
        root, backend="openvino", quantization="int8", device="cpu", environment=env, resolution_cache_ttl_s=0
    )
    assert forced.package_id == "openvino-int8"


def test_vigil_models_resolve_says_why_int8_does_not_run_first(quantized, tmp_path) -> None:
    root = with_agreement(quantized[0], tmp_path, 0.9)
    run = vigil("models", "resolve", str(root), "--device", "cpu", "--backend", "openvino")
    assert run.returncode == 0, run.stderr
    lines = {line.split()[0]: line for line in run.stdout.splitlines()[2:]}
    assert "rank 1" in lines["openvino-fp32"]
    why = "agreement with 'onnx' is 0.900, below model.min_int8_agreement 0.95" if current_environment().cpu_vnni else "no VNNI"
    assert "rank 2 (int8 ranks below fp32: " in lines["openvino-int8"] and why in lines["openvino-int8"]


def test_int8_of_a_model_it_cannot_compare_is_refused_before_any_work(tmp_path: Path) -> None:
    from tests.model_packages import write_model_json, write_package

    root = write_model_json(tmp_path / "model")
    body = json.loads((root / "model.json").read_text())
    (root / "model.json").write_text(json.dumps({**body, "task": "classify"}))
    write_package(root, "onnx", {"model.onnx": b"\x08\x07" * 64}, onnx={"opset": 17})
    run = vigil("models", "convert", str(root), "--to", "openvino", "--int8", "--calibration", str(tmp_path))
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "--int8 makes int8 packages of YOLO detect, segment, pose models" in run.stderr
