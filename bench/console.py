"""What the console's live view costs: encodes and CPU per viewer, and the pipeline's speed.

A real Pipeline on 2 cameras (looping 640x480 H.264 files played in real time, made here with
PyAV; the nudenet YOLOv8n) with a `LiveView` as its observer, as the daemon builds it. Phases of
`--phase-s` seconds each, in one process, one after the other:

  0 viewers                 encodes must be 0 (the encode thread does not even exist)
  1 viewer per camera @640  one encoder per camera
  2 viewers on cam0 @640    one shared encoder: the encodes must not double
  1 viewer on cam0 @1280    asked wider than the 640 frame: encoded at the frame's own width
  0 viewers again           encodes must be 0 again (the encoders stopped with their viewers)

Viewers are in-process subscribers that read every JPEG they are given (what the MJPEG route
does, without the socket). For each phase: JPEGs encoded per second, CPU milliseconds per JPEG
on the live view's thread (`time.thread_time` inside the encode, cross-checked against the
`vigil-live` thread's ticks in /proc/self/task), the process's CPU, and the pipeline's results
per second against the two 0-viewer phases' mean (the first and the last, so a shared machine's
drift lands on both sides; ratio 1.0 = watching costs the pipeline nothing).

    python bench/console.py
    python bench/console.py --phase-s 20 --fps 15 --json console.json
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import json
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import cv2

from vigil.api.console.live import LiveView
from vigil.engine import AutoModel
from vigil.pipeline.observer import Observers, PipelineObserver
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.result import InferenceResult
from vigil.sources import FileSource

TICK = os.sysconf("SC_CLK_TCK")
CAMERAS = ("cam0", "cam1")
# (name, viewers as (camera, width)); the order matters: the first phase runs before any encode.
PHASES = (
    ("0 viewers", ()),
    ("1 viewer/camera @640", (("cam0", 640), ("cam1", 640))),
    ("2 viewers cam0 @640", (("cam0", 640), ("cam0", 640))),
    ("1 viewer cam0 @1280", (("cam0", 1280),)),
    ("0 viewers again", ()),  # brackets the drift of a shared machine's speed
)


class Results(PipelineObserver):
    def __init__(self) -> None:
        self.count: Counter[str] = Counter()

    def published(self, result: InferenceResult) -> None:
        self.count[result.frame.source_id] += 1


def live_thread_seconds() -> float:
    """CPU seconds of the live view's encode thread(s), from /proc (Linux)."""
    ids = {t.native_id for t in threading.enumerate() if t.name.startswith("vigil-live")}
    total = 0
    for tid in ids:
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


async def watch(live: LiveView, camera: str, width: int, got: Counter[str]) -> None:
    async with live.subscribe(camera, width) as frames:
        async for _jpeg in frames:
            got[camera] += 1


async def phase(live: LiveView, results: Results, viewers: tuple[tuple[str, int], ...], seconds: float) -> dict:
    got: Counter[str] = Counter()
    tasks = [asyncio.create_task(watch(live, camera, width, got)) for camera, width in viewers]
    await asyncio.sleep(0.5)  # a first viewer's picture comes at once: let the rate settle first
    by_camera = {name: live.stats(name)["encoded"] for name in CAMERAS}
    before = (
        live.totals()["encoded"],
        live.encode_cpu_s,
        live_thread_seconds(),
        time.process_time(),
        sum(results.count.values()),
        time.monotonic(),
    )
    await asyncio.sleep(seconds)
    encoded, cpu, ticks, process = (
        live.totals()["encoded"] - before[0],
        live.encode_cpu_s - before[1],
        live_thread_seconds() - before[2],
        time.process_time() - before[3],
    )
    elapsed = time.monotonic() - before[5]
    frames = sum(results.count.values()) - before[4]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "viewers": len(viewers),
        "encodes": encoded,
        "encodes_by_camera": {name: live.stats(name)["encoded"] - n for name, n in by_camera.items()},
        "encodes_per_s": round(encoded / elapsed, 2),
        "cpu_ms_per_encode": round(1000 * cpu / encoded, 2) if encoded else 0.0,
        "live_thread_cpu_ms_per_encode_proc": round(1000 * ticks / encoded, 2) if encoded else 0.0,
        "live_thread_cpu_pct": round(100 * cpu / elapsed, 2),
        "process_cpu_pct": round(100 * process / elapsed, 1),
        "pipeline_fps": round(frames / elapsed, 2),
        "jpegs_received": sum(got.values()),
    }


async def run(args: argparse.Namespace, clip: Path) -> dict:
    model = AutoModel.from_pretrained(args.model, image_size=args.image_size)
    live, results = LiveView(fps=args.live_fps, max_width=1280, quality=args.quality), Results()
    sources = [FileSource(name, clip, realtime=True, loop=True) for name in CAMERAS]
    pipeline = Pipeline(model, sources, [], PipelineOptions(max_batch=2, worker_threads=2), Observers(live, results))
    task = asyncio.create_task(pipeline.run())
    out: dict = {}
    try:
        await asyncio.sleep(args.warmup_s)
        for name, viewers in PHASES:
            if viewers and live.encode_cpu_s == 0.0:  # supervision's import (once, ~0.5 s) is not a viewer's cost
                await live.snapshot(CAMERAS[0])
            out[name] = await phase(live, results, viewers, args.phase_s)
            if name == "0 viewers":
                out[name]["encode_thread_exists"] = any(t.name.startswith("vigil-live") for t in threading.enumerate())
    finally:
        pipeline.request_stop()
        await task
        live.close()
        model.close()
    base = (out["0 viewers"]["pipeline_fps"] + out["0 viewers again"]["pipeline_fps"]) / 2
    for row in out.values():
        row["fps_ratio_vs_0_viewers"] = round(row["pipeline_fps"] / base, 3) if base else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=str(importlib.resources.files("nudenet") / "320n.onnx"), help="an ONNX file or a model directory"
    )
    parser.add_argument("--image-size", type=int, default=None, help="the model's input size (default: its own, as the daemon)")
    parser.add_argument("--fps", type=int, default=15, help="frame rate of each camera (its file, played in real time)")
    parser.add_argument("--live-fps", type=float, default=5.0, help="the live view's cap, as the daemon sets it")
    parser.add_argument("--quality", type=int, default=75, help="JPEG quality, as the daemon sets it")
    parser.add_argument("--phase-s", type=float, default=10.0, help="seconds measured per phase")
    parser.add_argument("--warmup-s", type=float, default=4.0, help="seconds before the first phase (model warm-up)")
    parser.add_argument("--opencv-threads", type=int, default=1, help="OpenCV threads, as the daemon sets them (default 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    cv2.setNumThreads(args.opencv_threads)
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pipeline import make_clip  # bench/pipeline.py: the 640x480 astronaut pan

    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "camera.mp4", args.fps * 20, fps=args.fps)
        phases = asyncio.run(run(args, clip))
    print(
        f"{'phase':24s} {'encodes/s':>9s} {'ms/encode':>9s} {'(proc)':>7s} {'live cpu':>8s} {'proc cpu':>8s} "
        f"{'pipeline fps':>12s} {'ratio':>6s}"
    )
    for name, row in phases.items():
        print(
            f"{name:24s} {row['encodes_per_s']:9.2f} {row['cpu_ms_per_encode']:9.2f} "
            f"{row['live_thread_cpu_ms_per_encode_proc']:7.2f} {row['live_thread_cpu_pct']:7.2f}% "
            f"{row['process_cpu_pct']:7.1f}% {row['pipeline_fps']:12.2f} {row['fps_ratio_vs_0_viewers']:6.3f}"
        )
    figures = {
        "cameras": len(CAMERAS),
        "camera_fps": args.fps,
        "live_fps": args.live_fps,
        "quality": args.quality,
        "phase_s": args.phase_s,
        "image_size": args.image_size,
        "phases": phases,
    }
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
