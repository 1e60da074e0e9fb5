"""How accurate vigil's line counts, speeds and tracks are, on scenes whose truth is known by
construction (bench/_accuracy_scenes.py: real photos walking scripted ground paths through a
perspective, occlusions, pauses swaying on the line, missed detections, speeds in m/s), against
the plain approach on the same detections: supervision's LineZone (bottom-centre anchor) on
ByteTrack (Roboflow's trackers, its defaults), speed as supervision's speed example measures it
(the ground distance between a track's first and last positions over the last second).

vigil runs as `vigil eval` runs it (vigil.cli.eval: the real pipeline, nudenet's YOLOv8n, the
tracking and zones stages, the line with `relink_s: 3.5` for the scenes' long occlusions); the
plain approach reads every face detection of vigil's results, so both see the same boxes.
Figures: line-count error (|in error| + |out error| over the true crossings, %), speed error
(median and p95 %, on frames a smoothing window into a constant-speed stretch), and HOTA, IDF1,
ID switches (TrackEval) against the script's boxes. Goals (issue 31): line-count error <= 1%
where the plain approach is worse; median speed error <= 5%. Prints one JSON object.

    python bench/accuracy.py                       # three scenes (~30 s of video)
    python bench/accuracy.py --short --out a.json  # one short scene (the test's form)
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _accuracy_scenes as sc  # noqa: E402

from vigil.cli.eval import records_to_frames, vigil_over  # noqa: E402
from vigil.cli.eval_score import count_errors, error_summary, matches, relative_errors, tracking_scores  # noqa: E402
from vigil.cli.eval_truth import Frames, read_truth  # noqa: E402
from vigil.config import PipelineConfig  # noqa: E402

FACES = ("FACE_FEMALE", "FACE_MALE")
WINDOW_S = 1.0  # vigil's speed smoothing (the default) and the plain approach's window


def vigil_config(model: Path, clip: Path) -> PipelineConfig:
    start, end = sc.line_segment()
    return PipelineConfig.model_validate(
        {
            "model": {"path": str(model)},
            "sources": [
                {
                    "name": "scene",
                    "url": str(clip),
                    "tracking": {"classes": list(FACES)},
                    "lines": [{"name": "door", "start": list(start), "end": list(end), "relink_s": 3.5}],
                    "speed": {"image": sc.IMAGE, "world": sc.WORLD, "window_s": WINDOW_S},
                }
            ],
            "sinks": [{"kind": "jsonl", "path": "results.jsonl", "records": ["results", "events"]}],
        }
    )


def vigil_figures(records: list[dict[str, Any]]) -> tuple[Frames, dict[str, int], dict[tuple[int, int], float]]:
    """vigil's tracks, line counts and speeds from its records."""
    frames, speeds = records_to_frames(records)
    counted = {"in": 0, "out": 0}
    for event in records:
        if event.get("record") == "event" and event["type"] == "line_cross":
            counted[event["direction"]] += 1
    return frames, counted, speeds


def plain_figures(records: list[dict[str, Any]]) -> tuple[Frames, dict[str, int], dict[tuple[int, int], float]]:
    """The same detections through ByteTrack (trackers' defaults), supervision's LineZone and speed example."""
    import supervision as sv
    from trackers import ByteTrackTracker

    from vigil.config.homography import homography, to_plane

    tracker = ByteTrackTracker(frame_rate=float(sc.FPS))
    (x0, y0), (x1, y1) = sc.line_segment()
    zone = sv.LineZone(sv.Point(x0, y0), sv.Point(x1, y1), triggering_anchors=[sv.Position.BOTTOM_CENTER])
    matrix = homography(sc.IMAGE, sc.WORLD)
    history: dict[int, deque[np.ndarray]] = {}
    frames: Frames = {}
    speeds: dict[tuple[int, int], float] = {}
    for record in sorted((r for r in records if "record" not in r), key=lambda r: r["seq"]):
        faces = [d for d in record["detections"] if d["class_name"] in FACES]
        detections = sv.Detections(
            xyxy=np.array([d["xyxy"] for d in faces], np.float32).reshape(-1, 4),
            confidence=np.array([d["confidence"] for d in faces], np.float32),
            class_id=np.array([d["class_id"] for d in faces], int),
        )
        tracked = tracker.update(detections)
        zone.trigger(tracked)
        frame = record["seq"] + 1
        kept = [(int(i), box) for i, box in zip(tracked.tracker_id, tracked.xyxy) if i >= 0]
        if kept:
            frames[frame] = [(i, tuple(float(v) for v in box)) for i, box in kept]  # type: ignore[misc]
        for ident, box in kept:
            ground = to_plane(matrix, np.array([[(box[0] + box[2]) / 2, box[3]]]))[0]
            seen = history.setdefault(ident, deque(maxlen=round(sc.FPS * WINDOW_S)))
            seen.append(ground)
            if len(seen) >= sc.FPS * WINDOW_S / 2:
                speeds[(frame, ident)] = float(np.linalg.norm(seen[-1] - seen[0]) / ((len(seen) - 1) / sc.FPS) * 3.6)
    return frames, {"in": zone.in_count, "out": zone.out_count}, speeds


def measure(scene: sc.Scene, model: Path, folder: Path) -> dict[str, Any]:
    clip = sc.render(scene, folder / f"{scene.name}.mp4")
    gt = folder / f"{scene.name}.txt"
    gt.write_text("\n".join(sc.gt_rows(scene)) + "\n")
    truth = read_truth(gt).frames
    true_counts, true_kmh = sc.true_crossings(scene), sc.true_kmh(scene, WINDOW_S)
    records, failed = vigil_over(vigil_config(model, clip))
    out: dict[str, Any] = {"frames": scene.frames, "notes": scene.notes, "true_crossings": true_counts, "failed": failed}
    for name, figures in (("vigil", vigil_figures), ("plain", plain_figures)):
        frames, counted, speeds = figures(records)
        errors = relative_errors(true_kmh, speeds, matches(truth, frames))
        out[name] = {
            "counts": count_errors({"door": true_counts}, {"door": counted})["lines"]["door"],
            "speed": error_summary(errors),
            "speed_errors": errors,
            "tracking": tracking_scores(truth, frames),
        }
    return out


def summary(scenes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Totals over the scenes for each approach, and the goals' verdicts."""
    crossings = sum(s["true_crossings"]["in"] + s["true_crossings"]["out"] for s in scenes.values())
    total: dict[str, Any] = {"true_crossings": crossings}
    for name in ("vigil", "plain"):
        errors = sum(s[name]["counts"]["error"] for s in scenes.values())
        speed = [e for s in scenes.values() for e in s[name].pop("speed_errors")]
        total[name] = {
            "count_error": errors,
            "count_error_percent": round(100.0 * errors / crossings, 3) if crossings else None,
            "speed": error_summary(speed),
            "id_switches": sum(s[name]["tracking"]["id_switches"] for s in scenes.values()),
            "hota_mean": round(float(np.mean([s[name]["tracking"]["hota"] for s in scenes.values()])), 4),
            "idf1_mean": round(float(np.mean([s[name]["tracking"]["idf1"] for s in scenes.values()])), 4),
        }
    vigil, plain = total["vigil"], total["plain"]
    median = vigil["speed"]["median_percent"]
    total["goals"] = {
        "count_error_at_most_1_percent_where_plain_is_worse": vigil["count_error_percent"] is not None
        and vigil["count_error_percent"] <= 1.0
        and plain["count_error"] > vigil["count_error"],
        "median_speed_error_at_most_5_percent": median is not None and median <= 5.0,
    }
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="one short scene (the test's form)")
    parser.add_argument("--model", type=Path, default=None, help="the detector (default: nudenet's 320n.onnx)")
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    parser.add_argument("--workdir", type=Path, help="keep the clips and gt files here (default: a temporary folder)")
    args = parser.parse_args(argv)
    model = args.model or Path(str(importlib.resources.files("nudenet") / "320n.onnx"))
    with tempfile.TemporaryDirectory(prefix="vigil-accuracy-") as tmp:
        folder = args.workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        scenes = {scene.name: measure(scene, model, folder) for scene in sc.scenes(args.short)}
    report = {"model": model.name, "fps": sc.FPS, "window_s": WINDOW_S, "total": summary(scenes), "scenes": scenes}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
