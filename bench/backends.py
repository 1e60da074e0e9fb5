"""The same weights on every CPU backend, same threads, this CPU (issues 21 and 30): what the
resolver's default backend order should be.

Makes a model directory from an Ultralytics ONNX export with the packages named by `--packages`:
`onnx` (the export), `openvino-fp32` (converted here, `vigil models convert --to openvino`),
`onnx-int8` (`vigil models quantize`), `openvino-int8` (NNCF, `--to openvino --int8`), and with
`--torchscript` also `torchscript` (the same graph converted op by op to torch and traced,
tests/support/onnx_to_torch.py). The int8 packages are calibrated on `--scenes` generated scenes
(tests/support/scenes.py) at the benchmark's image size. Every package runs with vigil's defaults
(onnxruntime's spinning off, OpenVINO in f32 with a latency hint, torch's OpenMP threads passive)
and the same intra-op threads. Measured, in rounds that alternate the packages so that a shared
machine's drift lands on all of them:

- latency at batch 1: the median of `--runs` calls of `forward` on one letterboxed image, and of
  the whole `model([image])` (pre-processing + forward + post-processing);
- throughput at batch 4: images/s of `forward` on four letterboxed images (median batch time);
- with `--pipeline`: the whole pipeline's frames/s over `--clips` copies of a 640x480 H.264 clip
  (batches of up to 4, as the daemon runs them), each package in turn, then again in reverse
  order, averaged.

A Hugging Face (`hf`) package cannot hold the same network (transformers has no YOLOv8), so
there is no same-model figure for it; the script says so rather than compare different models.

    python bench/backends.py                      # nudenet YOLOv8n at its 320, 2 threads
    python bench/backends.py --image-size 640 --runs 30 --pipeline --json figures.json
"""

from __future__ import annotations

import argparse
import asyncio
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
from tests.support.scenes import write_scenes  # noqa: E402
from vigil.engine import AutoModel  # noqa: E402
from vigil.engine.developer_tools import (  # noqa: E402
    ConvertRequest,
    QuantizeRequest,
    choose_float_package,
    choose_source_package,
    convert_package,
    current_environment,
    import_ultralytics_onnx,
    quantize_package,
    read_model_dir,
)

PACKAGES = ("onnx", "openvino-fp32", "onnx-int8", "openvino-int8")
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _progress(phase: str, seconds: float) -> None:
    print(f"[{seconds:5.0f} s] {phase}", file=sys.stderr)


def model_dir_with(args: argparse.Namespace, workdir: Path) -> Path:
    """The export imported, and every package `args.packages` names made from it here."""
    root = import_ultralytics_onnx(Path(args.model), workdir / "model")
    if "torchscript" in args.packages:
        from tests.support.onnx_to_torch import onnx_to_torchscript

        script = onnx_to_torchscript(Path(args.model), workdir / "model.torchscript")
        write_package(root, "torchscript", {"model.torchscript": script}, backend="torchscript")
    model, packages = read_model_dir(root)
    source = choose_source_package(packages)
    calibration = write_scenes(workdir / "calibration", args.scenes) if any("int8" in p for p in args.packages) else None
    if "openvino-fp32" in args.packages:
        convert_package(model, source, root / source.package_id, root, ConvertRequest(), progress=_progress)
    if "onnx-int8" in args.packages:
        assert calibration is not None
        request = QuantizeRequest(calibration_dir=calibration, batch=4, threads=args.threads, image_size=args.image_size)
        quantize_package(model, choose_float_package(packages), root, request, current_environment(), progress=_progress)
    if "openvino-int8" in args.packages:
        request8 = ConvertRequest(int8=True, calibration_dir=calibration, threads=args.threads, image_size=args.image_size)
        convert_package(model, source, root / source.package_id, root, request8, progress=_progress)
    return root


def load(args: argparse.Namespace, root: Path, package: str) -> Any:
    backend = package.split("-")[0]
    return AutoModel.from_pretrained(
        root,
        backend=backend,
        package_id=package,
        image_size=args.image_size,
        intra_op_threads=args.threads,
        inter_op_threads=1,
        device="cpu",
        resolution_cache_ttl_s=0,
    )


def measure(args: argparse.Namespace, root: Path) -> dict[str, dict[str, float]]:
    models = {p: load(args, root, p) for p in args.packages}
    one = [photo("astronaut")]
    four = [photo(name) for name in PHOTOS]
    prepared = {p: (m.pre_process(one), m.pre_process(four)) for p, m in models.items()}
    times: dict[str, dict[str, list[float]]] = {p: {"b1": [], "call": [], "b4": []} for p in models}
    for p, m in models.items():  # warm-up: TorchScript's profiling executor optimises on the first runs
        for _ in range(3):
            m.forward(prepared[p][0])
            m.forward(prepared[p][1])
    for _ in range(args.runs):
        for p, m in models.items():
            batch1, batch4 = prepared[p]
            times[p]["b1"].append(timed(lambda: m.forward(batch1)))
            times[p]["call"].append(timed(lambda: m(one)))
            times[p]["b4"].append(timed(lambda: m.forward(batch4)))
    figures = {}
    for p, t in times.items():
        figures[p] = {
            "batch1_forward_ms": 1000 * statistics.median(t["b1"]),
            "batch1_forward_p90_ms": 1000 * sorted(t["b1"])[int(0.9 * (len(t["b1"]) - 1))],
            "batch1_call_ms": 1000 * statistics.median(t["call"]),
            "batch4_images_per_s": 4 / statistics.median(t["b4"]),
        }
    for m in models.values():
        m.close()
    return figures


def pipeline_fps(args: argparse.Namespace, root: Path, workdir: Path) -> dict[str, float]:
    """Frames/s of the whole pipeline over `args.clips` copies of one clip: each package once in
    order, then once in reverse order (so that a shared machine's drift lands on all), averaged."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pipeline import Figures, make_clip  # bench/pipeline.py, beside this file

    from vigil.pipeline.runner import Pipeline, PipelineOptions
    from vigil.sinks import JsonlSink
    from vigil.sources import FileSource

    clip = make_clip(workdir / "clip.mp4", args.frames)
    runs: dict[str, list[float]] = {p: [] for p in args.packages}
    for order in (args.packages, args.packages[::-1]):
        for package in order:
            model = load(args, root, package)
            sources = [FileSource(f"cam{i}", clip) for i in range(args.clips)]
            options = PipelineOptions(max_batch=4, max_delay_ms=10.0, worker_threads=2)
            pipeline = Pipeline(model, sources, [JsonlSink(workdir / f"{package}.jsonl")], options, Figures())
            report = asyncio.run(pipeline.run())
            model.close()
            assert not report.failed_sources, report.failed_sources
            runs[package].append(report.results / report.elapsed_s)
    return {p: statistics.mean(fps) for p, fps in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=str(importlib.resources.files("nudenet") / "320n.onnx"), help="an Ultralytics ONNX export"
    )
    parser.add_argument("--image-size", type=int, default=None, help="inference size (default: the export's)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads, every backend (default 2)")
    parser.add_argument("--runs", type=int, default=20, help="rounds (each runs every package once per figure)")
    parser.add_argument("--packages", default=",".join(PACKAGES), help=f"comma-separated (default {','.join(PACKAGES)})")
    parser.add_argument("--torchscript", action="store_true", help="also the torchscript package (needs torch)")
    parser.add_argument("--scenes", type=int, default=48, help="generated calibration scenes for the int8 packages")
    parser.add_argument("--pipeline", action="store_true", help="also the whole pipeline's frames/s per package")
    parser.add_argument("--clips", type=int, default=4, help="--pipeline: copies of the clip run as separate sources")
    parser.add_argument("--frames", type=int, default=150, help="--pipeline: frames per clip")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    args.packages = [p for p in args.packages.split(",") if p] + (["torchscript"] if args.torchscript else [])
    import onnxruntime
    import openvino

    with tempfile.TemporaryDirectory() as tmp:
        root = model_dir_with(args, Path(tmp))
        recorded = {p.package_id: p.int8 for p in read_model_dir(root)[1] if p.int8 is not None}
        figures = measure(args, root)
        fps = pipeline_fps(args, root, Path(tmp)) if args.pipeline else {}
    print(
        f"{Path(args.model).name} at {args.image_size or 'its export size'}, {args.threads} intra-op threads, "
        f"{args.runs} rounds; onnxruntime {onnxruntime.__version__}, OpenVINO {openvino.__version__.split('-')[0]}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'package':<14} {'b1 forward ms':>14} {'(p90)':>8} {'b1 call ms':>11} {'b4 images/s':>12} {'pipeline fps':>13}")
    for p, f in figures.items():
        print(
            f"{p:<14} {f['batch1_forward_ms']:>14.1f} {f['batch1_forward_p90_ms']:>8.1f} {f['batch1_call_ms']:>11.1f} "
            f"{f['batch4_images_per_s']:>12.1f} {fps.get(p, float('nan')):>13.1f}"
        )
    base = figures.get("onnx")
    for p, f in figures.items():
        if base is not None and p != "onnx":
            print(
                f"{p} / onnx: batch-1 latency x{f['batch1_forward_ms'] / base['batch1_forward_ms']:.2f}, "
                f"batch-4 throughput x{f['batch4_images_per_s'] / base['batch4_images_per_s']:.2f}"
            )
    for p, measured in recorded.items():
        print(
            f"{p}: agreement {measured.agreement:.3f} with fp32, recorded speedup {measured.speedup:.2f}x ({measured.measured_on})"
        )
    print("hf: not measured (no YOLO in transformers: the same weights cannot be an hf package)")
    if args.json:
        out = {"args": {k: str(v) for k, v in vars(args).items()}, "figures": figures, "pipeline_fps": fps}
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
