"""`vigil eval CLIP --truth gt.txt`: vigil's own pipeline (model, tracking, lines, speed) over a
labelled clip, scored against its MOTChallenge ground truth (docs/EVAL.md): HOTA, IDF1 and ID
switches (TrackEval), line-count errors and speed errors.

    vigil eval clip.mp4 --truth gt.txt --config vigil.yaml [--source NAME] [--json report.json]
    vigil eval clip.mp4 --truth gt.txt --model yolo.onnx --lines door=640,0,640,720 \\
        --speed '{image: [[..],[..],[..],[..]], world: [[..],[..],[..],[..]]}'
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vigil.cli import _loop
from vigil.cli.eval_score import count_errors, matches, speed_errors, tracking_scores
from vigil.cli.eval_truth import Frames, Segment, read_truth, true_crossings, true_speeds
from vigil.config import PipelineConfig
from vigil.errors import VigilError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("vigil")


class EvalError(VigilError):
    """Bad arguments or a clip that cannot be read."""


def add_parser(sub: Any) -> None:
    ev = sub.add_parser("eval", help="score vigil on a labelled clip: HOTA, IDF1, ID switches, line counts, speeds")
    ev.add_argument("clip", help="the video file the ground truth labels")
    ev.add_argument("--truth", required=True, metavar="GT.txt", help="MOTChallenge ground truth (docs/EVAL.md)")
    ev.add_argument("--config", metavar="YAML", help="a vigil configuration: its model and a source's analytics")
    ev.add_argument("--source", metavar="NAME", help="with --config: the source whose settings to use (default: the first)")
    ev.add_argument("--model", metavar="PATH", help="without --config: the model (file, directory or URL)")
    ev.add_argument("--classes", metavar="A,B", help="track only these class names (the labelled ones)")
    ev.add_argument("--lines", action="append", default=[], metavar="NAME=X1,Y1,X2,Y2", help="a counting line, pixels (repeat)")
    ev.add_argument("--speed", metavar="YAML", help="speed calibration: '{image: [4 points], world: [4 points in metres]}'")
    ev.add_argument("--json", metavar="OUT", help="also write the report as JSON to this file")
    ev.add_argument("--records", metavar="OUT", help="also keep vigil's results and events (JSON Lines) in this file")


def run(args: argparse.Namespace) -> int:
    try:
        if bool(args.config) == bool(args.model):
            raise EvalError("vigil eval: give --config YAML or --model PATH (one of them)")
        truth = read_truth(Path(args.truth))
        fps, size = probe(Path(args.clip))
        config = _config(args)
        records, failed = vigil_over(config, Path(args.records) if args.records else None)
        report = score(truth.frames, records, config.sources[0], fps, size)
    except ValidationError as exc:
        print(f"vigil: error: {_first_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report["truth"] = {"file": str(args.truth), "ids": truth.ids, "boxes": truth.boxes}
    print(report_text(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return EXIT_FAILED if failed else EXIT_OK


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(map(str, error['loc']))}: {error['msg']}"


def probe(clip: Path) -> tuple[float, tuple[int, int]]:
    """(frames a second, (width, height)) of `clip`, once its first frame decodes."""
    import av

    try:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            frame = next(container.decode(stream))
            rate = stream.average_rate or stream.guessed_rate
            if not rate:
                raise EvalError(f"cannot read the clip {clip}: no frame rate; give a video file with a constant rate")
            return float(rate), (frame.width, frame.height)
    except (OSError, IndexError, StopIteration, av.FFmpegError) as exc:
        raise EvalError(f"cannot read the clip {clip}: {exc}; give a video file FFmpeg decodes") from exc


def _lines(values: list[str]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for value in values:
        name, _, coords = value.partition("=")
        try:
            x1, y1, x2, y2 = (float(v) for v in coords.split(","))
        except ValueError:
            raise EvalError(f"--lines {value!r}: expected NAME=X1,Y1,X2,Y2 (pixels)") from None
        out.append({"name": name, "start": [x1, y1], "end": [x2, y2]})
    return out


def _analytics(args: argparse.Namespace, base: dict[str, Any]) -> dict[str, Any]:
    """The source's tracking, lines and speed: the configuration's, overridden by the flags."""
    if args.lines:
        base["lines"] = _lines(args.lines)
    if args.speed:
        try:
            base["speed"] = yaml.safe_load(args.speed)
        except yaml.YAMLError as exc:
            raise EvalError(f"--speed: not YAML ({exc}); expected '{{image: [4 points], world: [4 points]}}'") from None
    if args.classes:
        tracking = dict(base.get("tracking") or {})
        tracking["classes"] = [c.strip() for c in args.classes.split(",") if c.strip()]
        base["tracking"] = tracking
    base.setdefault("tracking", {})
    return base


def _config(args: argparse.Namespace) -> PipelineConfig:
    sink = {"kind": "jsonl", "path": "results.jsonl", "records": ["results", "events"]}
    if args.model:
        source = _analytics(args, {"name": "clip", "url": str(args.clip)})
        return PipelineConfig.model_validate({"model": {"path": args.model}, "sources": [source], "sinks": [sink]})
    from vigil.config.loader import load_config

    loaded = load_config(Path(args.config))
    chosen = [s for s in loaded.sources if args.source in (None, s.name)]
    if not chosen:
        raise EvalError(f"--source {args.source}: no such source in {args.config} ({', '.join(s.name for s in loaded.sources)})")
    keys = ("tracking", "lines", "zones", "speed", "stages", "decode_size", "max_fps", "models")
    kept = chosen[0].model_dump(mode="json", include=set(keys), exclude_none=True)
    source = _analytics(args, {**kept, "name": chosen[0].name, "url": str(args.clip)})
    return PipelineConfig.model_validate({"models": loaded.models, "sources": [source], "sinks": [sink]})


def vigil_over(config: PipelineConfig, keep: Path | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Run `config` over its clip: its records (results and events), and whether a batch failed."""
    with tempfile.TemporaryDirectory(prefix="vigil-eval-") as folder:
        out = Path(folder) / "results.jsonl"
        sinks = [config.sinks[0].model_copy(update={"path": str(out)})]
        failed = _loop.run(_pipeline(config.model_copy(update={"sinks": sinks})))
        text = out.read_text(encoding="utf-8") if out.exists() else ""
    if keep is not None:
        keep.write_text(text, encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()], failed


async def _pipeline(config: PipelineConfig) -> bool:
    from vigil.daemon.assemble import build_pipeline

    pipeline = await build_pipeline(config, None)
    try:
        report = await pipeline.run()
    finally:
        pipeline.model.close()
    return bool(report.failed_batches)


def frame_numbers(records: list[dict[str, Any]], fps: float | None) -> dict[int, int]:
    """{seq: MOTChallenge frame} of the result records: by PTS from the first (a `max_fps` source's
    seq counts only the frames it ran on), or seq + 1 without a rate."""
    results = [r for r in records if "record" not in r]
    if fps is None or not results or any(r.get("pts") is None for r in results):
        return {r["seq"]: r["seq"] + 1 for r in results}
    start = min(r["pts"] for r in results)
    return {r["seq"]: round((r["pts"] - start) * fps) + 1 for r in results}


def records_to_frames(records: list[dict[str, Any]], fps: float | None = None) -> tuple[Frames, dict[tuple[int, int], float]]:
    """The tracked detections of result records by MOTChallenge frame, and their `speed_kmh` by (frame, id)."""
    numbers = frame_numbers(records, fps)
    frames: Frames = {}
    speeds: dict[tuple[int, int], float] = {}
    for record in records:
        if "record" in record:
            continue
        frame = numbers[record["seq"]]
        tracked = [d for d in record.get("detections", []) if d.get("tracker_id", -1) >= 0]
        if tracked:
            frames[frame] = [(d["tracker_id"], tuple(d["xyxy"])) for d in tracked]
        speeds.update({(frame, d["tracker_id"]): float(d["speed_kmh"]) for d in tracked if "speed_kmh" in d})
    return frames, speeds


def score(truth: Frames, records: list[dict[str, Any]], source: Any, fps: float, size: tuple[int, int]) -> dict[str, Any]:
    """The report: tracking scores, line counts against the crossings of the truth, speeds against its speeds."""
    boxes, measured = records_to_frames(records, fps)
    events = [r for r in records if r.get("record") == "event"]
    # frames vigil did not run on (sampled away by max_fps) are not its misses
    processed = set(frame_numbers(records, fps).values())
    scored = {f: rows for f, rows in truth.items() if f in processed}
    report: dict[str, Any] = {
        "frames": max([*truth, *boxes, 0]),
        "frames_scored": len(processed),
        "fps": round(fps, 3),
        "tracking": tracking_scores(scored, boxes),
    }
    lines = {line.name: _segment(line, size) for line in source.lines}
    if lines:
        counted = {name: {"in": 0, "out": 0} for name in lines}
        for event in events:
            if event.get("type") == "line_cross" and event.get("line") in counted:
                counted[event["line"]][event["direction"]] += 1
        report["counts"] = count_errors(true_crossings(truth, lines), counted)
    if source.speed is not None:
        scale = size if source.speed.normalized else (1, 1)
        image = [[x * scale[0], y * scale[1]] for x, y in source.speed.image]
        true_kmh = true_speeds(truth, image, [list(p) for p in source.speed.world], source.speed.window_s, fps)
        report["speed"] = speed_errors(true_kmh, measured, matches(truth, boxes))
    return report


def _segment(line: Any, size: tuple[int, int]) -> Segment:
    scale = size if line.normalized else (1, 1)
    return (line.start[0] * scale[0], line.start[1] * scale[1]), (line.end[0] * scale[0], line.end[1] * scale[1])


def report_text(report: dict[str, Any]) -> str:
    t = report["tracking"]
    out = [
        f"{report['frames']} frames at {report['fps']:g} fps, {report['frames_scored']} run and scored",
        f"tracking: HOTA {t['hota']:.3f} (DetA {t['deta']:.3f}, AssA {t['assa']:.3f})  IDF1 {t['idf1']:.3f}  "
        f"ID switches {t['id_switches']}  MOTA {t['mota']:.3f}",
    ]
    counts = report.get("counts")
    if counts:
        for name, line in counts["lines"].items():
            true, got = line["true"], line["found"]
            out.append(
                f"line {name}: in {got['in']} (true {true['in']}), out {got['out']} (true {true['out']}), error {line['error']}"
            )
        share = "n/a" if counts["error_percent"] is None else f"{counts['error_percent']:g}%"
        out.append(f"line counts: error {counts['error']} over {counts['true_crossings']} true crossings ({share})")
    speed = report.get("speed")
    if speed:
        if speed["measured"]:
            out.append(
                f"speed: {speed['measured']} measured, error median {speed['median_percent']:g}%, p95 {speed['p95_percent']:g}%"
            )
        else:
            out.append("speed: no measured speed matched a labelled box with a true speed")
    return "\n".join(out)
