"""`vigil models quantize` on the real nudenet YOLOv8n: a bare .onnx export becomes a model
directory with its fp32 package and an int8 one calibrated on real photos, measured against fp32
on held-out images; the resolver runs it first on a VNNI CPU only when that agreement allows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.conftest import FACE_CLASSES, photo
from tests.support.scenes import write_scenes
from vigil.config.pipeline import PipelineConfig
from vigil.daemon.assemble import load_model
from vigil.engine import AutoModel
from vigil.engine.developer_tools import current_environment, read_model_dir

CALIBRATION_SCENES = 48  # 36 calibrate, 12 held out: enough for a test, the CLI's defaults are for real use


def vigil(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def quantized(nudenet_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The model directory `vigil models quantize 320n.onnx` made, and that run."""
    work = tmp_path_factory.mktemp("quantize")
    export = Path(shutil.copyfile(nudenet_path, work / "320n.onnx"))
    calibration = write_scenes(work / "calibration", CALIBRATION_SCENES)
    # a target no int8 graph reaches: both forms are made and measured, the better one kept
    run = vigil("models", "quantize", str(export), "--calibration", str(calibration), "--threads", "2", "--target-agreement", "1")
    assert run.returncode == 0, run.stderr
    return work / "320n", run


def with_agreement(model_dir: Path, tmp_path: Path, agreement: float) -> Path:
    """A copy of the model directory whose int8 package records `agreement` (package.json itself is not hashed)."""
    root = Path(shutil.copytree(model_dir, tmp_path / "model"))
    path = root / "onnx-int8" / "package.json"
    body = json.loads(path.read_text())
    body["int8"]["agreement"] = agreement
    path.write_text(json.dumps(body))
    return root


def face(detections, names) -> np.ndarray:
    faces = [i for i, c in enumerate(detections.class_id) if names[int(c)] in FACE_CLASSES]
    assert faces, "no face found"
    return detections.xyxy[max(faces, key=lambda i: detections.confidence[i])]


def test_quantize_turns_an_export_into_a_model_dir_with_a_measured_int8_package(quantized):
    model_dir, run = quantized
    _, packages = read_model_dir(model_dir)
    by_id = {p.package_id: p for p in packages}
    assert set(by_id) == {"onnx", "onnx-int8"} and not list(model_dir.glob(".quantize-*"))  # the scratch folder is gone
    int8 = by_id["onnx-int8"]
    assert int8.quantization.value == "int8" and int8.batch == by_id["onnx"].batch and int8.int8 is not None
    measured = int8.int8
    assert (measured.reference, measured.calibration_images, measured.evaluation_images) == ("onnx", 36, 12)
    assert 0.5 < measured.agreement <= 1.0 and measured.speedup > 0
    assert "batch 4, 2 threads" in measured.measured_on
    assert measured.input_size == (320, 320)  # the export's own size: calibrated and measured there
    assert f"agreement {measured.agreement:.3f}" in run.stdout and "made package 'onnx-int8' from 'onnx'" in run.stdout
    assert "measuring agreement with 'onnx' on 12 held-out images" in run.stderr
    print(f"agreement {measured.agreement:.3f}, speedup {measured.speedup:.2f}x ({measured.measured_on})")


def test_below_the_target_the_score_branch_is_kept_float_and_the_better_graph_wins(quantized):
    model_dir, run = quantized
    first = re.search(r"agreement ([\d.]+) is below the target 1\b", run.stderr)
    assert first and "(Q/DQ, every Conv layer)" in run.stderr
    assert "(Q/DQ, every Conv but the 9 of the class-score branch)" in run.stderr
    _, packages = read_model_dir(model_dir)
    measured = next(p.int8 for p in packages if p.int8 is not None)
    assert measured.agreement >= float(first.group(1)) - 5e-4  # the first graph's figure, rounded in the message
    assert measured.kept_float in (
        (),
        tuple(f"/model.22/cv3.{i}/cv3.{i}.{j}/{'conv/' if j < 2 else ''}Conv" for i in range(3) for j in range(3)),
    )


def test_only_conv_layers_are_int8_and_the_kept_float_ones_are_float(quantized):
    model_dir, _ = quantized
    _, packages = read_model_dir(model_dir)
    kept = set(next(p.int8 for p in packages if p.int8 is not None).kept_float)
    graph = onnx.load(str(model_dir / "onnx-int8" / "model.onnx")).graph
    dequantized = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    int8_convs = {n.name for n in convs if n.input[1] in dequantized}  # int8 weights
    assert not int8_convs & kept
    assert len(int8_convs) >= len(convs) - len(kept) - 1  # the DFL's fixed conv may stay float
    initializers = {i.name for i in graph.initializer}
    int8_weights = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in initializers}
    assert {n.op_type for n in graph.node if set(n.input) & int8_weights} == {"Conv"}  # nothing else has int8 weights
    (head,) = [n for n in graph.node if graph.output[0].name in n.output]
    assert head.op_type == "Concat" and not set(head.input) & dequantized  # boxes and scores leave in float


def test_the_int8_package_loads_and_finds_the_astronauts_face_where_fp32_does(quantized):
    model_dir, _ = quantized
    fp32 = AutoModel.from_pretrained(model_dir, quantization="fp32", device="cpu")
    int8 = AutoModel.from_pretrained(model_dir, quantization="int8", device="cpu")
    assert (fp32.package_id, int8.package_id) == ("onnx", "onnx-int8")
    image = photo("astronaut")
    a, b = face(fp32([image])[0], fp32.class_names), face(int8([image])[0], int8.class_names)
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    assert inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter) > 0.8


@pytest.mark.parametrize("vnni, agreement, chosen", [(True, 0.99, "onnx-int8"), (True, 0.9, "onnx"), (False, 0.99, "onnx")])
def test_the_resolver_runs_int8_first_only_on_vnni_with_enough_agreement(quantized, tmp_path, vnni, agreement, chosen):
    root = with_agreement(quantized[0], tmp_path, agreement)
    env = replace(current_environment(), cpu_vnni=vnni, gpus=())
    model = AutoModel.from_pretrained(root, device="cpu", environment=env)
    assert model.package_id == chosen


def test_vigil_models_resolve_says_why_int8_does_not_run_first(quantized, tmp_path):
    root = with_agreement(quantized[0], tmp_path, 0.9)
    run = vigil("models", "resolve", str(root), "--device", "cpu")
    assert run.returncode == 0, run.stderr
    lines = {line.split()[0]: line for line in run.stdout.splitlines()[2:]}
    assert "rank 1" in lines["onnx"]
    why = "agreement with 'onnx' is 0.900, below model.min_int8_agreement 0.95" if current_environment().cpu_vnni else "no VNNI"
    assert "rank 2 (int8 ranks below fp32: " in lines["onnx-int8"] and why in lines["onnx-int8"]


@pytest.mark.skipif(not current_environment().cpu_vnni, reason="the daemon's own choice needs a CPU with VNNI")
@pytest.mark.parametrize(
    "minimum, quantization, chosen", [(0.95, None, "onnx-int8"), (0.995, None, "onnx"), (0.95, ["fp32"], "onnx")]
)
async def test_the_daemon_passes_min_int8_agreement_and_quantization_to_the_resolver(
    quantized, tmp_path, minimum, quantization, chosen
):
    root = with_agreement(quantized[0], tmp_path, 0.99)
    config = PipelineConfig.model_validate(
        {
            "model": {"path": str(root), "min_int8_agreement": minimum, "quantization": quantization, "device": "cpu"},
            "sources": [{"name": "cam", "url": str(tmp_path / "unused.mp4")}],
            "sinks": [{"kind": "jsonl", "path": str(tmp_path / "out.jsonl")}],
        }
    )
    model = await load_model(config)
    try:
        assert model.package_id == chosen
    finally:
        model.close()


@pytest.mark.parametrize(
    "images, damaged, message",
    [
        (0, False, "no images found"),
        (5, False, "5 image(s), at least 8 needed"),
        (8, True, "cannot read"),
    ],
)
def test_bad_calibration_input_is_a_clear_error_before_any_work(quantized, tmp_path, images, damaged, message):
    folder = write_scenes(tmp_path / "calibration", images)
    if damaged:
        (folder / "scene-003.jpg").write_bytes(b"\xff\xd8 truncated")
    root = Path(shutil.copytree(quantized[0], tmp_path / "model"))
    run = vigil("models", "quantize", str(root), "--calibration", str(folder))
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("vigil: error: --calibration") and message in run.stderr
    assert sorted(p.name for p in root.iterdir()) == ["model.json", "onnx", "onnx-int8"]  # nothing written


def test_quantize_refuses_to_import_over_a_folder_in_use(nudenet_path, tmp_path):
    (tmp_path / "320n").mkdir()
    (tmp_path / "320n" / "notes.txt").write_text("mine")
    export = Path(shutil.copyfile(nudenet_path, tmp_path / "320n.onnx"))
    run = vigil("models", "quantize", str(export), "--calibration", str(tmp_path))
    assert run.returncode == 2 and "320n exists and is not empty; pass --out NEW_DIR" in run.stderr
