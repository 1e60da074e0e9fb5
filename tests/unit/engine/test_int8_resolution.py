"""int8 packages on the CPU: VNNI read from /proc/cpuinfo's flags, the recorded agreement with
fp32 against `min_int8_agreement`, the user forcing a precision, and the agreement measure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.config.model import ModelConfig
from vigil.engine import Detections, Quantization
from vigil.engine._private.environment import parse_cpu_vnni, probe_environment
from vigil.engine.developer_tools import (
    MIN_CALIBRATION_IMAGES,
    GpuInfo,
    PackageMetadata,
    ResolutionRequest,
    RuntimeEnvironment,
    choose_float_package,
    detection_agreement,
    read_calibration_images,
    resolve,
)
from vigil.errors import ConfigError

HASH = "0" * 64
CPU = RuntimeEnvironment(backends={"onnx": "1.32.0"}, ort_providers=("CPUExecutionProvider",), ort_max_opset=28, machine="x86_64")
VNNI = replace(CPU, cpu_vnni=True)
GPU_VNNI = replace(VNNI, ort_providers=("CUDAExecutionProvider", "CPUExecutionProvider"), gpus=(GpuInfo("NVIDIA L4", "8.9"),))


def pkg(package_id: str, quantization: str = "fp32", agreement: float | None = None) -> PackageMetadata:
    measured = (
        None
        if agreement is None
        else {
            "agreement": agreement,
            "speedup": 1.8,
            "reference": "onnx",
            "calibration_images": 36,
            "evaluation_images": 12,
        }
    )
    return PackageMetadata.model_validate(
        {
            "package_id": package_id,
            "backend": "onnx",
            "quantization": quantization,
            "batch": {"min": 1, "max": None},
            "files": [{"name": "model.onnx", "sha256": HASH}],
            "int8": measured,
        }
    )


def order(packages: list[PackageMetadata], request: ResolutionRequest, env: RuntimeEnvironment) -> list[tuple[str, str | None]]:
    return [(c.package.package_id, c.note) for c in resolve(packages, request, env).candidates]


FP32 = pkg("onnx")


@pytest.mark.parametrize(
    "flags, vnni",
    [
        ("flags\t\t: fpu sse4_2 avx2 avx512f avx512_vnni avx512_bf16", True),
        ("flags\t\t: fpu sse4_2 avx2 avx_vnni", True),
        ("flags\t\t: fpu sse4_2 avx2 avx512f", False),
        ("bugs\t\t: avx512_vnni\nflags\t\t: fpu avx2", False),  # only the flags line counts
        ("", False),  # not Linux, or an ARM cpuinfo without flags
    ],
)
def test_vnni_is_read_from_the_cpuinfo_flags_line(flags: str, vnni: bool):
    assert parse_cpu_vnni(f"processor\t: 0\nmodel name\t: Some CPU\n{flags}\n") is vnni


def test_the_probe_reads_this_machines_vnni_flag():
    text = Path("/proc/cpuinfo").read_text()
    expected = any(
        f in line.split() for line in text.splitlines() if line.startswith("flags") for f in ("avx512_vnni", "avx_vnni")
    )
    assert probe_environment().cpu_vnni is expected


def test_int8_runs_first_on_a_vnni_cpu_when_its_agreement_meets_the_minimum():
    ranked = order([FP32, pkg("onnx-int8", "int8", 0.97)], ResolutionRequest(), VNNI)
    assert [p for p, _ in ranked] == ["onnx-int8", "onnx"]
    assert "VNNI CPU, agreement 0.970 >= 0.95" in (ranked[0][1] or "")


@pytest.mark.parametrize(
    "env, agreement, minimum, reason",
    [
        (VNNI, 0.93, 0.95, "its agreement with 'onnx' is 0.930, below model.min_int8_agreement 0.95"),
        (VNNI, None, 0.95, "its agreement with fp32 is unknown"),
        (CPU, 0.99, 0.95, "this CPU has no VNNI (avx512_vnni or avx_vnni)"),
        (VNNI, 0.97, 0.98, "its agreement with 'onnx' is 0.970, below model.min_int8_agreement 0.98"),
    ],
)
def test_fp32_is_kept_first_and_the_int8_package_says_why(env, agreement, minimum, reason):
    ranked = order([pkg("onnx-int8", "int8", agreement), FP32], ResolutionRequest(min_int8_agreement=minimum), env)
    assert [p for p, _ in ranked] == ["onnx", "onnx-int8"]
    assert ranked[0][1] is None and reason in (ranked[1][1] or "")


def test_a_lower_minimum_lets_a_weaker_int8_package_run_first():
    ranked = order([FP32, pkg("onnx-int8", "int8", 0.9)], ResolutionRequest(min_int8_agreement=0.85), VNNI)
    assert ranked[0][0] == "onnx-int8"


@pytest.mark.parametrize("forced, first", [((Quantization.INT8,), "onnx-int8"), ((Quantization.FP32, Quantization.INT8), "onnx")])
def test_the_user_forces_a_precision_whatever_the_agreement(forced, first):
    packages = [FP32, pkg("onnx-int8", "int8", 0.5 if first == "onnx-int8" else 0.99)]
    ranked = order(packages, ResolutionRequest(quantizations=forced), VNNI)
    assert ranked[0] == (first, None)


def test_on_a_gpu_int8_keeps_its_place_after_fp32():
    ranked = order([pkg("onnx-int8", "int8", 0.99), FP32], ResolutionRequest(), GPU_VNNI)
    assert ranked == [("onnx", None), ("onnx-int8", None)]


@pytest.mark.parametrize(
    "got, expected",
    [
        ([([0, 0, 10, 10], 1, 0.9)], 1.0),
        ([], 0.0),
        ([([0, 0, 10, 10], 2, 0.9)], 0.0),  # same box, other class
        ([([6, 0, 16, 10], 1, 0.9)], 0.0),  # IoU 0.25
        ([([1, 0, 11, 10], 1, 0.9), ([50, 50, 60, 60], 1, 0.4)], 2 / 3),  # IoU 0.82 matches; one extra box
    ],
)
def test_agreement_is_the_f1_of_boxes_matched_by_class_at_iou_half(got, expected):
    def detections(rows):
        return Detections(
            xyxy=np.array([r[0] for r in rows], np.float32).reshape(-1, 4),
            confidence=np.array([r[2] for r in rows], np.float32),
            class_id=np.array([r[1] for r in rows], np.int64),
        )

    reference = detections([([0, 0, 10, 10], 1, 0.9)])
    assert detection_agreement([reference, detections([])], [detections(got), detections([])]) == pytest.approx(expected)
    assert detection_agreement([detections([])], [detections([])]) == 1.0


def write_images(folder: Path, count: int) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:02d}.png"), rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    return folder


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing", "not a directory"),
        (lambda d: write_images(d / "empty", 0), "no images found"),
        (lambda d: write_images(d / "few", MIN_CALIBRATION_IMAGES - 1), f"7 image(s), at least {MIN_CALIBRATION_IMAGES} needed"),
    ],
)
def test_bad_calibration_folders_are_clear_errors(tmp_path, make, message):
    folder = make(tmp_path)
    with pytest.raises(ConfigError, match="--calibration") as error:
        read_calibration_images(folder)
    assert message in str(error.value) and str(folder) in str(error.value)


def test_an_unreadable_calibration_image_is_named(tmp_path):
    folder = write_images(tmp_path / "calib", MIN_CALIBRATION_IMAGES)
    (folder / "05.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match=r"cannot read .*05\.png as an image; remove it"):
        read_calibration_images(folder)


def test_calibration_images_are_read_in_name_order_and_other_files_ignored(tmp_path):
    folder = write_images(tmp_path / "calib", MIN_CALIBRATION_IMAGES)
    (folder / "notes.txt").write_text("not an image")
    paths, images = read_calibration_images(folder)
    assert [p.name for p in paths] == sorted(f"{i:02d}.png" for i in range(MIN_CALIBRATION_IMAGES))
    assert all(img.shape == (32, 48, 3) for img in images)


def test_quantize_starts_from_the_fp32_onnx_package():
    packages = [pkg("onnx-int8", "int8", 0.99), pkg("onnx-b4"), pkg("onnx")]
    assert choose_float_package(packages).package_id == "onnx"
    with pytest.raises(ConfigError, match="no fp32 ONNX package to quantize"):
        choose_float_package([pkg("onnx-int8", "int8", 0.99)])


def test_min_int8_agreement_is_a_bounded_model_key():
    assert ModelConfig(path="m").min_int8_agreement == 0.95
    assert ModelConfig(path="m", min_int8_agreement=0.9).min_int8_agreement == 0.9
    with pytest.raises(ValueError, match="min_int8_agreement"):
        ModelConfig(path="m", min_int8_agreement=1.5)


@pytest.mark.parametrize(
    "flags, expected",
    [
        ([], None),
        (["--quantization", "int8"], ["int8"]),
        (["--quantization", "fp32", "--quantization", "int8"], ["fp32", "int8"]),
    ],
)
def test_vigil_run_quantization_flag_forces_the_precision(flags, expected):
    from vigil.cli.main import _parser, config_from_args

    args = _parser().parse_args(["run", "--model", "m.onnx", "--source", "a.mp4", "--out", "o.jsonl", *flags])
    assert config_from_args(args).model.quantization == expected


def test_quantizing_without_the_onnx_package_names_the_extra(monkeypatch):
    import sys

    from vigil.engine._private.quantize import quantize_package
    from vigil.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match=r"int8 package .*vigil-analytics\[quantize\]"):
        quantize_package(None, None, Path("unused"), None, None)  # type: ignore[arg-type]
