"""`vigil models convert MODEL_DIR --to openvino [--int8 --calibration DIR]`: an OpenVINO package
made here from the model directory's fp32 ONNX package (int8 through NNCF, measured against it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vigil.engine.developer_tools import (
    MIN_CALIBRATION_IMAGES,
    ConvertRequest,
    choose_source_package,
    convert_package,
    list_model,
)
from vigil.errors import ConfigError

__all__ = ["add_convert", "run_convert"]


def add_convert(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    convert = actions.add_parser(
        "convert", help="convert the model's fp32 ONNX package into an OpenVINO package here (fp32, or int8 with NNCF)"
    )
    convert.add_argument("ref", type=Path, help="a model directory (the new package is written into it)")
    convert.add_argument("--to", required=True, choices=("openvino",), help="the backend to convert to")
    convert.add_argument("--int8", action="store_true", help="quantize to int8 with NNCF (needs --calibration)")
    convert.add_argument(
        "--calibration",
        type=Path,
        metavar="DIR",
        help=f"for --int8: a folder of at least {MIN_CALIBRATION_IMAGES} representative images; every fourth is "
        "held out to measure the agreement with fp32",
    )
    convert.add_argument("--batch", type=int, default=4, metavar="N", help="--int8: batch the speedup is measured at (default 4)")
    convert.add_argument("--threads", type=int, metavar="N", help="--int8: threads for the measurement (default: one per core)")


def _progress(phase: str, elapsed: float) -> None:
    print(f"[{elapsed:6.0f} s] {phase}", file=sys.stderr, flush=True)


def run_convert(args: argparse.Namespace) -> int:
    if args.int8 and args.calibration is None:
        raise ConfigError("--int8 needs --calibration DIR (a folder of representative images)")
    if args.calibration is not None and not args.int8:
        raise ConfigError("--calibration is only used with --int8")
    if args.batch < 1 or (args.threads is not None and args.threads < 1):
        raise ConfigError("--batch and --threads must be >= 1")
    model_dir: Path = args.ref
    if not model_dir.is_dir() or not (model_dir / "model.json").is_file():
        raise ConfigError(
            f"{model_dir}: convert needs a model directory (model.json + packages) to write the OpenVINO package into; "
            "turn an .onnx export into one with `vigil models import --onnx FILE DIR`"
        )
    name, listing = list_model(model_dir)
    source = choose_source_package(listing.packages)
    folder = listing.fetch(source)  # its files checked against their sha256 first
    request = ConvertRequest(int8=args.int8, calibration_dir=args.calibration, batch=args.batch, threads=args.threads)
    made = convert_package(listing.model, source, folder, model_dir, request, progress=_progress)
    p = made.package
    line = (
        f"{name}: made package '{p.package_id}' ({p.quantization.value}, batch {p.batch.describe()}) from '{source.package_id}'"
    )
    if p.int8 is not None:
        line += (
            f": agreement {p.int8.agreement:.3f} (F1 on {p.int8.evaluation_images} held-out images), {p.int8.speedup:.2f}x faster"
        )
    print(f"{line} in {made.seconds:.0f} s: {made.folder}")
    print(f"check it with: vigil models resolve {model_dir} --backend openvino")
    return 0
