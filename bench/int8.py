"""int8 against fp32 in vigil's pipeline, same run (issue 17): the goal is >= 1.5x the frames/s
with an agreement >= 0.95.

Makes a model directory from the ONNX export, quantizes it as `vigil models quantize` does
(calibrated on `--calibration`, by default 160 scenes of scikit-image photos with people pasted
in, `tests/support/scenes.py`, every fourth held out), then runs the pipeline over K copies of a
640x480 H.264 clip with the fp32 package and with the int8 one, alternated fp32, int8, int8,
fp32 so that drift in the machine's speed lands on both. Prints the frames/s of each, their
ratio, what quantize recorded (agreement on the held-out images, inference speedup) and the
agreement of the two packages on the clip's frames at the benchmark's image size.

    python bench/int8.py                            # nudenet YOLOv8n at its 320, 4 clips of 150 frames
    python bench/int8.py --image-size 640 --threads 2
    python bench/int8.py --calibration frames/ --model yolov8n.onnx

(`bench/pipeline.py` measures one model's pipeline against raw onnxruntime; this script only
compares the two packages, with the same pipeline settings.)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.scenes, run from anywhere

from pipeline import Figures, first_frames, make_clip  # noqa: E402 - bench/pipeline.py, beside this file

from vigil.engine import AutoModel  # noqa: E402
from vigil.engine.developer_tools import (  # noqa: E402
    QuantizeRequest,
    choose_float_package,
    current_environment,
    detection_agreement,
    import_ultralytics_onnx,
    quantize_package,
    read_model_dir,
)
from vigil.pipeline.runner import Pipeline, PipelineOptions  # noqa: E402
from vigil.sinks import JsonlSink  # noqa: E402
from vigil.sources import FileSource  # noqa: E402


def load(args: argparse.Namespace, model_dir: Path, quantization: str, **options: object):  # noqa: ANN201
    return AutoModel.from_pretrained(
        model_dir,
        quantization=quantization,
        device="cpu",
        image_size=args.image_size,
        intra_op_threads=args.threads,
        resolution_cache_ttl_s=0,
        **options,
    )


def run_pipeline(args: argparse.Namespace, model_dir: Path, quantization: str, clip: Path, workdir: Path) -> tuple[float, dict]:
    """Frames/s of the pipeline over `args.clips` copies of `clip` with that package."""
    model = load(args, model_dir, quantization)
    sources = [FileSource(f"cam{i}", clip) for i in range(args.clips)]
    options = PipelineOptions(max_batch=args.max_batch, max_delay_ms=args.max_delay_ms, worker_threads=args.workers)
    figures = Figures()
    pipeline = Pipeline(model, sources, [JsonlSink(workdir / f"{quantization}.jsonl")], options, figures)
    report = asyncio.run(pipeline.run())
    model.close()
    assert not report.failed_sources, report.failed_sources
    return report.results / report.elapsed_s, {"frames": report.results, "batch_sizes": dict(sorted(figures.batch_sizes.items()))}


def clip_agreement(args: argparse.Namespace, model_dir: Path, clip: Path, frames: int = 48) -> float:
    images = first_frames(clip, frames)
    fp32, int8 = load(args, model_dir, "fp32"), load(args, model_dir, "int8")
    try:
        return detection_agreement(fp32(images), int8(images))
    finally:
        fp32.close()
        int8.close()


def quantized_model(args: argparse.Namespace, workdir: Path) -> Path:
    """A model directory with the fp32 package and its int8 one, quantized here."""
    model_dir = import_ultralytics_onnx(Path(args.model), workdir / "model")
    calibration = args.calibration
    if calibration is None:
        from tests.support.scenes import write_scenes

        calibration = write_scenes(workdir / "calibration", args.scenes)
    model, packages = read_model_dir(model_dir)
    request = QuantizeRequest(calibration_dir=calibration, batch=args.max_batch, threads=args.threads, image_size=args.image_size)
    quantize_package(
        model,
        choose_float_package(packages),
        model_dir,
        request,
        current_environment(),
        progress=lambda phase, s: print(f"[{s:5.0f} s] {phase}", file=sys.stderr),
    )
    return model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=str(importlib.resources.files("nudenet") / "320n.onnx"), help="an Ultralytics ONNX export"
    )
    parser.add_argument("--calibration", type=Path, default=None, help="folder of images (default: generated scenes)")
    parser.add_argument("--scenes", type=int, default=160, help="generated calibration scenes (default 160)")
    parser.add_argument("--image-size", type=int, default=None, help="inference size (default: the export's)")
    parser.add_argument("--clips", type=int, default=4, help="copies of the clip run as separate sources")
    parser.add_argument("--frames", type=int, default=150, help="frames per clip")
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--max-delay-ms", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (both packages)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model_dir = quantized_model(args, workdir)
        clip = make_clip(workdir / "clip.mp4", args.frames)
        runs: dict[str, list[float]] = {"fp32": [], "int8": []}
        stats: dict = {}
        for quantization in ("fp32", "int8", "int8", "fp32"):
            fps, stats[quantization] = run_pipeline(args, model_dir, quantization, clip, workdir)
            runs[quantization].append(fps)
        on_clip = clip_agreement(args, model_dir, clip)
        _, packages = read_model_dir(model_dir)
    measured = next(p.int8 for p in packages if p.int8 is not None)
    fp32, int8 = (float(np.mean(runs[q])) for q in ("fp32", "int8"))
    figures = {
        "model": Path(args.model).name,
        "image_size": args.image_size,
        "sources": args.clips,
        "frames": stats["fp32"]["frames"],
        "threads": args.threads,
        "fp32_fps": round(fp32, 2),
        "int8_fps": round(int8, 2),
        "ratio": round(int8 / fp32, 3),
        "runs_fps": {q: [round(v, 2) for v in runs[q]] for q in runs},
        "agreement_held_out": measured.agreement,
        "inference_speedup": measured.speedup,
        "kept_float": len(measured.kept_float),
        "calibration_images": measured.calibration_images,
        "evaluation_images": measured.evaluation_images,
        "agreement_on_clip": round(on_clip, 4),
        "batch_sizes": {q: stats[q]["batch_sizes"] for q in stats},
    }
    print(f"fp32 {fp32:.2f} frames/s, int8 {int8:.2f} frames/s: {int8 / fp32:.2f}x (runs {figures['runs_fps']})")
    print(
        f"agreement {measured.agreement:.3f} on {measured.evaluation_images} held-out images, {on_clip:.3f} on the clip; "
        f"inference {measured.speedup:.2f}x faster ({measured.measured_on})"
    )
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
