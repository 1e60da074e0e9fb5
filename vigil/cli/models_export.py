"""`vigil models export DIR --to onnx [--out OUT] [--opset N] [--image-size ...]`: a transformers
DETR-family detector (RT-DETR, RT-DETRv2, D-FINE, DETR, Conditional DETR) as a model directory with an `onnx`
package that runs without transformers or torch."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vigil.engine.developer_tools import ExportRequest, export_onnx
from vigil.errors import ConfigError

__all__ = ["add_export", "run_export"]


def add_export(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = actions.add_parser(
        "export",
        help="export a transformers object detector folder (RT-DETR, RT-DETRv2, D-FINE, DETR, Conditional DETR) into a "
        "model directory "
        "with an onnx package (needs the hf extra)",
    )
    export.add_argument(
        "ref", type=Path, help="the detector's save_pretrained folder (config.json, model.safetensors, processor)"
    )
    export.add_argument("--to", required=True, choices=("onnx",), help="the package to make")
    export.add_argument("--out", type=Path, metavar="DIR", help="the model directory to create (default: REF-onnx beside REF)")
    export.add_argument("--opset", type=int, default=17, metavar="N", help="ONNX opset (default 17; 16 or newer)")
    export.add_argument(
        "--image-size",
        metavar="N|A,B",
        help="RT-DETR / D-FINE: the fixed input (N or HEIGHT,WIDTH); (Conditional) DETR: the shortest edge (N) or SHORTEST,LONGEST "
        "(default: the image processor's)",
    )


def _image_size(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or any(not 16 <= v <= 4096 for v in values):
        raise ConfigError(f"--image-size {text!r}: give N or A,B, whole numbers of pixels from 16 to 4096")
    return tuple(values)


def run_export(args: argparse.Namespace) -> int:
    source: Path = args.ref
    out: Path = args.out or source.with_name(source.resolve().name + "-onnx")
    size = _image_size(args.image_size)
    started = time.monotonic()

    def progress(phase: str) -> None:
        print(f"[{time.monotonic() - started:6.0f} s] {phase}", file=sys.stderr, flush=True)

    made = export_onnx(source, ExportRequest(out=out, opset=args.opset, image_size=size), progress=progress)
    print(
        f"{source}: {made.source} exported as '{made.architecture}' (opset {made.opset}, dynamic batch) to {made.out}; "
        f"largest difference from transformers {made.max_difference:.1e}"
    )
    print(f"check it with: vigil models resolve {made.out}")
    return 0
