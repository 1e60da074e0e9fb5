"""The same weights on onnxruntime and on torch (TorchScript), same threads, this CPU (issue 21):
what the resolver's default backend order should be.

Makes a model directory from an Ultralytics ONNX export with two packages: `onnx` (the export)
and `torchscript` (the same graph converted op by op to torch and traced,
tests/support/onnx_to_torch.py). Both run with vigil's defaults (onnxruntime's spinning off,
torch's OpenMP threads passive) and the same intra-op threads. Measured, in rounds that
alternate the backends so that a shared machine's drift lands on both:

- latency at batch 1: the median of `--runs` calls of `forward` on one letterboxed image, and of
  the whole `model([image])` (pre-processing + forward + post-processing);
- throughput at batch 4: images/s of `forward` on four letterboxed images (median batch time).

A Hugging Face (`hf`) package cannot hold the same network (transformers has no YOLOv8), so
there is no same-model figure for it; the script says so rather than compare different models.

    python bench/backends.py                      # nudenet YOLOv8n at its 320, 2 threads
    python bench/backends.py --image-size 640 --runs 30 --json figures.json
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what vigil sets when it imports torch itself
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, run from anywhere

from tests.conftest import photo  # noqa: E402
from tests.model_packages import write_package  # noqa: E402
from tests.support.onnx_to_torch import onnx_to_torchscript  # noqa: E402
from vigil.engine import AutoModel  # noqa: E402
from vigil.engine.developer_tools import import_ultralytics_onnx  # noqa: E402

BACKENDS = ("onnx", "torchscript")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def twin_model(onnx_path: Path, workdir: Path) -> Path:
    root = import_ultralytics_onnx(onnx_path, workdir / "model")
    script = onnx_to_torchscript(onnx_path, workdir / "model.torchscript")
    write_package(root, "torchscript", {"model.torchscript": script}, backend="torchscript")
    return root


def measure(args: argparse.Namespace, root: Path) -> dict[str, dict[str, float]]:
    models = {
        b: AutoModel.from_pretrained(
            root, backend=b, image_size=args.image_size, intra_op_threads=args.threads, inter_op_threads=1, device="cpu"
        )
        for b in BACKENDS
    }
    one = [photo("astronaut")]
    four = [photo(name) for name in PHOTOS]
    prepared = {b: (m.pre_process(one), m.pre_process(four)) for b, m in models.items()}
    times: dict[str, dict[str, list[float]]] = {b: {"b1": [], "call": [], "b4": []} for b in BACKENDS}
    for b, m in models.items():  # warm-up: TorchScript's profiling executor optimises on the first runs
        for _ in range(3):
            m.forward(prepared[b][0])
            m.forward(prepared[b][1])
    for _ in range(args.runs):
        for b, m in models.items():
            batch1, batch4 = prepared[b]
            times[b]["b1"].append(timed(lambda: m.forward(batch1)))
            times[b]["call"].append(timed(lambda: m(one)))
            times[b]["b4"].append(timed(lambda: m.forward(batch4)))
    figures = {}
    for b, t in times.items():
        figures[b] = {
            "batch1_forward_ms": 1000 * statistics.median(t["b1"]),
            "batch1_forward_p90_ms": 1000 * sorted(t["b1"])[int(0.9 * (len(t["b1"]) - 1))],
            "batch1_call_ms": 1000 * statistics.median(t["call"]),
            "batch4_images_per_s": 4 / statistics.median(t["b4"]),
        }
    for m in models.values():
        m.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=str(importlib.resources.files("nudenet") / "320n.onnx"), help="an Ultralytics ONNX export"
    )
    parser.add_argument("--image-size", type=int, default=None, help="inference size (default: the export's)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads, both backends (default 2)")
    parser.add_argument("--runs", type=int, default=20, help="rounds (each runs every backend once per figure)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    import onnxruntime
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        figures = measure(args, twin_model(Path(args.model), Path(tmp)))
    print(
        f"{Path(args.model).name} at {args.image_size or 'its export size'}, {args.threads} intra-op threads, "
        f"{args.runs} rounds; onnxruntime {onnxruntime.__version__}, torch {torch.__version__}, {os.cpu_count()} CPUs"
    )
    print(f"{'backend':<12} {'b1 forward ms':>14} {'(p90)':>8} {'b1 call ms':>11} {'b4 images/s':>12}")
    for b, f in figures.items():
        print(
            f"{b:<12} {f['batch1_forward_ms']:>14.1f} {f['batch1_forward_p90_ms']:>8.1f} {f['batch1_call_ms']:>11.1f} "
            f"{f['batch4_images_per_s']:>12.1f}"
        )
    onnx, script = figures["onnx"], figures["torchscript"]
    print(
        f"torch / onnxruntime: batch-1 latency x{script['batch1_forward_ms'] / onnx['batch1_forward_ms']:.2f}, "
        f"batch-4 throughput x{script['batch4_images_per_s'] / onnx['batch4_images_per_s']:.2f}"
    )
    print("hf: not measured (no YOLO in transformers: the same weights cannot be an hf package)")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "figures": figures}, indent=2))


if __name__ == "__main__":
    main()
