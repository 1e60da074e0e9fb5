"""Cascades (issue 18): a detector alone against the detector + a classifier on every detection.

4 sources (`--clips`) of a 640x480 H.264 clip panning over the astronaut (bench/pipeline.py's
clip; nudenet's YOLOv8n finds her face in every frame) run through vigil's Pipeline twice in one
process, alternated alone/cascade/cascade/alone so drift in the machine's speed lands on both
sides: the detector alone, then with a `CascadeStage` per source (every detection, no voting)
whose shared `CascadeStep` runs the golden yolov8n-cls classifier (../shared/golden; `--classifier`
for another) on the face crops of all sources of a batch at once. Prints frames/s of each, the
secondary's cost per crop (the extra wall time of the cascade runs over the crops they ran), the
crops per step call and the batch sizes the classifier got.

Then, on the crops of one run, in the same process: the classifier on all of them in batches of
`--max-batch` (as the cascade batches across cameras) against one call per crop, alternated over
`--rounds`; the factor is what batching across cameras saves per crop.

    python bench/cascade.py
    python bench/cascade.py --clips 4 --frames 150 --max-batch 8
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import make_clip  # noqa: E402  (bench/pipeline.py)

from vigil.engine import AutoModel, CascadeRule, Detections, crop, run_secondary, select  # noqa: E402
from vigil.pipeline import Pipeline, PipelineOptions  # noqa: E402
from vigil.pipeline.observer import PipelineObserver  # noqa: E402
from vigil.result import InferenceResult  # noqa: E402
from vigil.sinks import JsonlSink  # noqa: E402
from vigil.sources import FileSource  # noqa: E402
from vigil.stages.cascade import CascadeStage, CascadeStep  # noqa: E402

GOLDEN_CLASSIFIER = Path(__file__).resolve().parents[2] / "shared" / "golden" / "models" / "yolov8n-cls.onnx"


class Crops(PipelineObserver):
    """Keeps the face crops of the results (copies), to time the classifier on them afterwards."""

    def __init__(self, rule: CascadeRule) -> None:
        self.rule, self.crops = rule, []

    def result(self, result: InferenceResult) -> None:
        dets = result.detections
        if isinstance(dets, Detections):
            for i in select(self.rule, dets, result.frame.image.shape):
                self.crops.append(crop(result.frame.image, dets.xyxy[i], self.rule.pad).copy())


def run(
    args: argparse.Namespace, clip: Path, workdir: Path, detector: Any, step: CascadeStep | None, rule: CascadeRule
) -> tuple[float, int, Crops]:
    """Frames/s of one run (with the cascade when `step`), its results, and the crops it saw."""
    sources = [FileSource(f"cam{i}", clip) for i in range(args.clips)]
    stages = (
        {s.source_id: [CascadeStage(rule, step, source=s.source_id, every="detection", vote=False)] for s in sources}
        if step is not None
        else None
    )
    crops = Crops(rule)
    options = PipelineOptions(max_batch=4, worker_threads=2)
    pipeline = Pipeline(detector, sources, [JsonlSink(workdir / "out.jsonl")], options, crops, stages)
    report = asyncio.run(pipeline.run())
    assert not report.failed_sources and report.failed_batches == 0, report
    return report.results / report.elapsed_s, report.results, crops


def batched_vs_single(args: argparse.Namespace, classifier: Any, crops: list[np.ndarray]) -> dict[str, Any]:
    """ms per crop: all crops in batches of `args.max_batch`, against one call per crop."""
    sample = crops[: args.sample]
    batched, single = [], []
    run_secondary(classifier, sample[:4], "warm-up", max_batch=args.max_batch)
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        run_secondary(classifier, sample, "bench", max_batch=args.max_batch)
        batched.append((time.perf_counter() - t0) * 1e3 / len(sample))
        t0 = time.perf_counter()
        for one in sample:
            run_secondary(classifier, [one], "bench", max_batch=1)
        single.append((time.perf_counter() - t0) * 1e3 / len(sample))
    b, s = float(np.median(batched)), float(np.median(single))
    return {
        "crops": len(sample),
        "batched_ms_per_crop": round(b, 3),
        "single_ms_per_crop": round(s, 3),
        "factor": round(s / b, 2),
        "rounds": args.rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", default=str(importlib.resources.files("nudenet") / "320n.onnx"))
    parser.add_argument("--classifier", type=Path, default=GOLDEN_CLASSIFIER, help="a classification model")
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--max-batch", type=int, default=8, help="the classifier's largest batch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sample", type=int, default=64, help="crops timed batched vs one by one")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not args.classifier.is_file():
        sys.exit(f"no classifier at {args.classifier}: give one with --classifier (e.g. an Ultralytics -cls ONNX export)")
    cv2.setNumThreads(1)
    detector = AutoModel.from_pretrained(args.detector, image_size=args.image_size)
    classifier = AutoModel.from_pretrained(args.classifier)
    rule = CascadeRule("class", min_size=16)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", args.frames)
        fps: dict[str, list[float]] = {"alone": [], "cascade": []}
        steps: list[CascadeStep] = []
        crops: list[np.ndarray] = []
        for mode in ("alone", "cascade", "cascade", "alone"):
            step = CascadeStep(classifier, max_batch=args.max_batch) if mode == "cascade" else None
            value, frames, seen = run(args, clip, Path(tmp), detector, step, rule)
            fps[mode].append(value)
            if step is not None:
                steps.append(step)
                crops = seen.crops
    alone, cascade = (float(np.mean(fps[m])) for m in ("alone", "cascade"))
    crops_per_run = float(np.mean([s.crops_run for s in steps]))
    per_call = Counter(n for s in steps for n in s.calls)
    batches = Counter(min(args.max_batch, n - k) for s in steps for n in s.calls for k in range(0, n, args.max_batch))
    extra_s = frames / cascade - frames / alone
    figures = {
        "sources": args.clips,
        "frames": frames,
        "alone_fps": round(alone, 2),
        "cascade_fps": round(cascade, 2),
        "runs_fps": {m: [round(v, 2) for v in fps[m]] for m in fps},
        "crops_per_run": crops_per_run,
        "secondary_ms_per_crop_in_pipeline": round(1e3 * extra_s / max(crops_per_run, 1), 3),
        "crops_per_step_call": dict(sorted(per_call.items())),
        "classifier_batch_sizes": dict(sorted(batches.items())),
        "batched_vs_single": batched_vs_single(args, classifier, crops),
    }
    detector.close()
    classifier.close()
    b = figures["batched_vs_single"]
    print(
        f"detector alone {alone:.2f} frames/s, + classifier on every face {cascade:.2f} frames/s "
        f"({crops_per_run:.0f} crops per run; {figures['secondary_ms_per_crop_in_pipeline']} ms per crop in the pipeline)"
    )
    print(f"crops per step call {figures['crops_per_step_call']}; classifier batch sizes {figures['classifier_batch_sizes']}")
    print(
        f"classifier on {b['crops']} crops: batched {b['batched_ms_per_crop']} ms/crop, one call per crop "
        f"{b['single_ms_per_crop']} ms/crop: batching saves x{b['factor']}"
    )
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
