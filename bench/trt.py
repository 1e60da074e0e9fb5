"""TensorRT engine throughput at each batch size of its optimisation profile, through vigil's
runner (host -> device copy, execute_async_v3, device -> host copy), and `trtexec` on the same
engine when it is installed (target: vigil >= 0.9 x trtexec). Needs an NVIDIA GPU and TensorRT.

    python bench/trt.py                              # builds nudenet's YOLOv8n (fp16, batch 1,4,8) first
    python bench/trt.py --model models/yolov8n      # the model directory's best trt package (built if none)
    python bench/trt.py --engine path/model.engine   # an existing engine
"""

from __future__ import annotations

import argparse
import importlib.resources
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vigil.engine.developer_tools import (
    BuildRequest,
    TrtRunner,
    build_engine_package,
    choose_onnx_package,
    current_environment,
    import_ultralytics_onnx,
    parse_batch,
    read_model_dir,
)
from vigil.errors import VigilError


def engine_for(model_dir: Path, fp16: bool, batch: tuple[int, int, int]) -> Path:
    model, packages = read_model_dir(model_dir)
    trt = [p for p in packages if p.backend.value == "trt"]
    if trt:
        return model_dir / trt[0].package_id / trt[0].main_file((".engine", ".plan", ".trt")).name
    onnx_package = choose_onnx_package(packages, batch)
    built = build_engine_package(
        model,
        onnx_package,
        model_dir / onnx_package.package_id,
        model_dir,
        BuildRequest(batch=batch, fp16=fp16),
        current_environment(),
    )
    return built.folder / "model.engine"


def vigil_throughput(runner: TrtRunner, batch: int, seconds: float) -> float:
    info = runner.inputs[0]
    shape = (batch, *(info.profile[1][1:] if info.profile else info.shape[1:]))
    tensor = np.random.default_rng(0).random(shape, dtype=np.float32).astype(info.dtype)
    for _ in range(5):
        runner.run({info.name: tensor})
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        runner.run({info.name: tensor})
        runs += 1
    return runs * batch / (time.perf_counter() - start)


def trtexec_throughput(exe: str, engine: Path, name: str, shape: tuple[int, ...]) -> float | None:
    """trtexec's 'Throughput: N qps' (queries = batches) x batch, with host<->device copies included."""
    spec = "x".join(map(str, shape))
    out = subprocess.run(
        [exe, f"--loadEngine={engine}", f"--shapes={name}:{spec}", "--duration=5"], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"Throughput:\s*([\d.]+)\s*qps", out)
    return float(match.group(1)) * shape[0] if match else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model directory (default: nudenet's YOLOv8n, imported)")
    parser.add_argument("--engine", type=Path, help="an existing engine file")
    parser.add_argument("--fp32", action="store_true", help="build fp32 instead of fp16")
    parser.add_argument("--batch", default="1,4,8", help="profile to build when no engine exists")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per batch size")
    args = parser.parse_args()
    if not current_environment().has_gpu:
        print("bench/trt.py: no NVIDIA GPU found (nvidia-smi, /etc/nv_tegra_release); nothing to measure")
        return 2
    try:
        with tempfile.TemporaryDirectory() as scratch:
            if args.engine is not None:
                engine = args.engine
            else:
                model_dir = args.model
                if model_dir is None:
                    nudenet = Path(str(importlib.resources.files("nudenet") / "320n.onnx"))
                    model_dir = import_ultralytics_onnx(nudenet, Path(scratch) / "yolov8n")
                engine = engine_for(model_dir, not args.fp32, parse_batch(args.batch))
            runner = TrtRunner(engine.read_bytes(), name=str(engine))
            info = runner.inputs[0]
            low, _, high = (info.profile[0][0], 0, info.profile[2][0]) if info.profile else (info.shape[0], 0, info.shape[0])
            sizes = sorted({low, high, *[b for b in (1, 2, 4, 8, 16, 32) if low <= b <= high]})
            exe = shutil.which("trtexec") or next((p for p in ("/usr/src/tensorrt/bin/trtexec",) if Path(p).is_file()), None)
            print(f"engine {engine}\n{'batch':>5}  {'vigil img/s':>12}  {'trtexec img/s':>14}  ratio")
            for batch in sizes:
                ours = vigil_throughput(runner, batch, args.seconds)
                shape = (batch, *(info.profile[1][1:] if info.profile else info.shape[1:]))
                theirs = trtexec_throughput(exe, engine, info.name, shape) if exe else None
                ratio = f"{ours / theirs:.2f}" if theirs else "-"
                print(f"{batch:>5}  {ours:>12.1f}  {theirs if theirs is not None else '-':>14}  {ratio}")
            runner.close()
            if exe is None:
                print("(trtexec not found: /usr/src/tensorrt/bin/trtexec on a Jetson, or add it to PATH)")
    except VigilError as exc:
        print(f"bench/trt.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
