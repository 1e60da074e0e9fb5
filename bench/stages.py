"""The tracking and zones stages alone, at many objects per frame: milliseconds per frame.

Synthetic results: `--objects` boxes (40x80 px, class `person`, confidence 0.9) moving at
constant speeds across a 1920x1080 frame and bouncing off its edges, at 30 fps of capture
time. Three figures, each over the same frames after a warm-up: the `tracking` stage alone
(ByteTrack), the `zones` stage alone (4 zones, the frame's quarters, and 2 lines, its middles;
the objects' own indices as tracker ids), and both in a row as a source's chain runs them.
Prints one JSON object.

    python bench/stages.py                    # 100 objects, 300 frames
    python bench/stages.py --objects 200 --frames 600
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np

from vigil import Frame
from vigil.config.zones import ZonesStageConfig
from vigil.engine import Detections
from vigil.result import InferenceResult, Timings
from vigil.stages.base import Stage, StageContext, StageOutput
from vigil.stages.tracking import TrackingStage, TrackingStageConfig
from vigil.stages.zones import ZoneStage

WIDTH, HEIGHT, FPS = 1920, 1080, 30.0
T0 = datetime(2026, 11, 29, tzinfo=timezone.utc)


def synthetic(objects: int, frames: int, seed: int = 0) -> list[InferenceResult]:
    """`frames` results of `objects` boxes each, moving and bouncing; tracker ids are the indices."""
    rng = np.random.default_rng(seed)
    size = np.array([40.0, 80.0])
    position = rng.uniform((0, 0), (WIDTH - size[0], HEIGHT - size[1]), (objects, 2))
    velocity = rng.uniform(-6, 6, (objects, 2))
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    results = []
    for seq in range(frames):
        position += velocity
        for axis, limit in ((0, WIDTH - size[0]), (1, HEIGHT - size[1])):
            out = (position[:, axis] < 0) | (position[:, axis] > limit)
            velocity[out, axis] *= -1
            position[:, axis] = np.clip(position[:, axis], 0, limit)
        dets = Detections(
            xyxy=np.hstack([position, position + size]).astype(np.float32),
            confidence=np.full(objects, 0.9, np.float32),
            class_id=np.zeros(objects, np.int64),
            data={"class_name": np.full(objects, "person")},
            tracker_id=np.arange(objects, dtype=np.int64),
        )
        frame = Frame("cam", seq, seq / FPS, T0 + timedelta(seconds=seq / FPS), image)
        results.append(InferenceResult(frame, "synthetic", dets, Timings(0, 0, 0, 0, 0)))
    return results


def zones_config() -> ZonesStageConfig:
    quarters = [[[x, y], [x + 0.5, y], [x + 0.5, y + 0.5], [x, y + 0.5]] for x in (0, 0.5) for y in (0, 0.5)]
    return ZonesStageConfig.model_validate(
        {
            "zones": [{"name": f"quarter{i}", "polygon": q, "normalized": True} for i, q in enumerate(quarters)],
            "lines": [
                {"name": "vertical", "start": [0.5, 0], "end": [0.5, 1], "normalized": True},
                {"name": "horizontal", "start": [0, 0.5], "end": [1, 0.5], "normalized": True},
            ],
        }
    )


def chain(kinds: tuple[str, ...]) -> list[Stage]:
    context = StageContext("cam")
    made: dict[str, Stage] = {
        "tracking": TrackingStage(TrackingStageConfig(), context),
        "zones": ZoneStage(zones_config(), context),
    }
    return [made[kind] for kind in kinds]


def time_chain(kinds: tuple[str, ...], results: list[InferenceResult], warmup: int) -> dict:
    """Milliseconds per frame of the stages `kinds` run in a row over `results`."""
    stages = chain(kinds)
    untracked = "tracking" in kinds  # the tracker sets the ids itself
    times, events = [], 0
    for k, result in enumerate(results):
        if untracked:
            result = replace(result, detections=replace(result.detections, tracker_id=None))
        started = time.perf_counter()
        current: InferenceResult | None = result
        for stage in stages:
            assert current is not None
            out = stage.process(current)
            if isinstance(out, StageOutput):
                current = out.result
                events += len(out.records) if k >= warmup else 0
            else:
                current = out
        if k >= warmup:
            times.append((time.perf_counter() - started) * 1e3)
    ms = np.array(times)
    return {
        "mean_ms": round(float(ms.mean()), 3),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "events": events,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=100, help="objects per frame")
    parser.add_argument("--frames", type=int, default=300, help="frames timed (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=30, help="frames run first and not timed")
    args = parser.parse_args()
    results = synthetic(args.objects, args.warmup + args.frames)
    figures = {
        "objects_per_frame": args.objects,
        "frames": args.frames,
        "frame_size": f"{WIDTH}x{HEIGHT}",
        "zones": 4,
        "lines": 2,
        "tracking": time_chain(("tracking",), results, args.warmup),
        "zones_stage": time_chain(("zones",), results, args.warmup),
        "tracking_and_zones": time_chain(("tracking", "zones"), results, args.warmup),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
