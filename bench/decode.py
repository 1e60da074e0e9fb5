"""Decoding like an edge box (issue 28): CPU per camera of `vigil run` on RTSP cameras, by mode.

Cameras: `--cameras` (16) RTSP cameras served by tests/support/rtsp_server.py (`--servers`
processes, looping mounts, never re-encoding), each with a 1920x1080 25 fps H.264 main stream
(4 Mbit/s) and a 640x360 substream (512 kbit/s) of the same moving scene, made once with PyAV
(bench/_decode_clips.py, cached in `--cache`). Every camera: detection at 5 fps (`max_fps: 5`),
the motion gate off, clips on (to a scratch folder), as vigil's own process with its own config.

Modes (the detect input; clips always come from the main stream):
  main    detect on the main stream, full-size pictures (today)
  scaled  detect on the main stream, scaled by the decoder (`decode_size: model`)
  sub     detect on the substream, the main stream only demuxed for clips
          (`inputs: [{url: sub, roles: [detect]}, {url: main, roles: [record]}]`)
  subonly (`--breakdown`, model off) the substream alone, its own packets for the clips: sub
          minus subonly is what demuxing the main stream costs (`record_input_cpu_per_camera_pct`)
each with `decoder: pyav` and `decoder: gstreamer`, the model off and then on:
  off     a YOLO-shaped ONNX graph with a 320x320 input and a single strided convolution
          (tests/model_packages.py; confidence 1.0 so nothing is kept): the frames are taken,
          letterboxed and batched as with a real model, the model costs next to nothing, so the
          CPU is decoding (and the pipeline around it). vigil cannot run without a model.
  on      the YOLOv8n 320 of the nudenet wheel
and `gate` runs: the substream mode with the motion gate on, model off (P6: decode and gate).

Each run: vigil started, every camera streaming, `--warmup` seconds, then a window of
`--seconds`: vigil's utime + stime (/proc/PID/stat, all threads) over the window, divided by the
cameras, is the CPU per camera; the RTSP servers' CPU is read the same way (not counted in
vigil's). Frames per camera per second from /metrics: seen (decoded or skipped), decoded, to
the model, inferred. A camera whose stream or detection rate fell below 90% of 25 / 5 fps did
not keep up: its mode's CPU is then a floor (`kept_up: false`). A mode whose feature is not in
vigil yet (its config is refused, or the decoder cannot be loaded) is reported
"not available (reason)"; a run that fails says why, and the others go on.

`pyav_decode_floor_pct`: camera 0's main and sub files decoded with PyAV in this process, in
percent of a core at the stream's real-time rate (every 5th picture made BGR): what decoding
alone costs, under which no mode's CPU per camera can go.

Goals (ratios of runs measured in the same invocation, model off): sub >= 4x less CPU per camera
than main; scaled >= 1.5x less than main; gstreamer within 1.2x of pyav (each mode); P6: 16
cameras on substreams decode and gate in <= 1 core. The same ratios with the model on are shown
too. Prints one JSON object (and a table on stderr).

    python bench/decode.py                                  # 16 cameras, every mode
    python bench/decode.py --cameras 2 --seconds 5          # short form
    python bench/decode.py --prepare                        # only make the clips (cached)
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests.support: the scenes and the tiny model

from _decode_clips import ClipSettings, camera_clips, decode_floor  # noqa: E402
from _decode_report import goals, summary_table  # noqa: E402
from _decode_run import Cameras, Vigil, free_port  # noqa: E402

MODES = ("main", "scaled", "sub")
DECODERS = ("pyav", "gstreamer")
MODELS = ("off", "on")
DETECT_FPS = 5.0
KEPT_UP = 0.9  # share of the stream's and the detection's rate a camera must keep


def tiny_model(cache: Path) -> Path:
    """The model-off stand-in: a 320x320 YOLO-shaped graph, one strided convolution (cached)."""
    from tests.model_packages import tiny_yolo_onnx

    path = cache / "tiny-yolo-320.onnx"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tiny_yolo_onnx(path.with_suffix(".part"), size=320)
        path.with_suffix(".part").replace(path)
    return path


def model_section(model: str, cache: Path) -> dict[str, Any]:
    if model == "off":
        return {"path": str(tiny_model(cache)), "confidence": 1.0}
    import importlib.resources

    return {"path": str(importlib.resources.files("nudenet") / "320n.onnx")}


def camera_config(i: int, cams: Cameras, mode: str, decoder: str, gate: bool, work: Path) -> dict[str, Any]:
    source: dict[str, Any] = {
        "name": f"cam{i:02d}",
        "kind": "rtsp",
        "max_fps": DETECT_FPS,
        "motion": {"enabled": gate},
        "clips": {"directory": str(work / "clips"), "pre_roll_s": 2.0, "post_roll_s": 2.0},
        "open_timeout_s": 30,
        "stall_timeout_s": 30,
    }
    if mode == "subonly":
        source["url"] = cams.sub_url(i)  # the substream alone, its own packets for the clips
    elif mode == "sub":
        source["inputs"] = [{"url": cams.sub_url(i), "roles": ["detect"]}, {"url": cams.main_url(i), "roles": ["record"]}]
    else:
        source["url"] = cams.main_url(i)
    if mode == "scaled":
        source["decode_size"] = "model"
    if decoder != "pyav" or _has_field("decoder"):
        source["decoder"] = decoder  # today's vigil (no decoder field) decodes with PyAV
    return source


def _has_field(name: str) -> bool:
    from vigil.config.sources import RtspSourceConfig

    return name in RtspSourceConfig.model_fields


def vigil_config(run: dict[str, Any], cams: Cameras, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    return {
        "model": model_section(run["model"], Path(args.cache)),
        "sources": [camera_config(i, cams, run["mode"], run["decoder"], run["gate"], work) for i in range(args.cameras)],
        "sinks": [{"kind": "jsonl", "path": str(work / "events.jsonl"), "records": ["events"]}],
        "api": {"host": "127.0.0.1", "port": run["api_port"], "token": run["token"], "state_file": str(work / "api.json")},
        "logging": {"level": "WARNING"},
        "shutdown_timeout_s": 20.0,
    }


def unavailable(config: dict[str, Any], decoder: str) -> str | None:
    """Why vigil cannot run this mode yet (its config refused, its decoder not loadable), or None."""
    from vigil.config.loader import parse_config

    try:
        parse_config(json.dumps(config), "bench.yaml", {})
    except Exception as exc:  # the message says which field; any refusal means "not in vigil yet"
        return f"config refused: {' '.join(str(exc).split())[:300]}"
    if decoder != "pyav":
        try:
            from vigil.sources.decode.auto import choose

            choose(decoder)
        except Exception as exc:
            return f"decoder {decoder!r} cannot be loaded: {' '.join(str(exc).split())[:300]}"
    return None


def measure_run(run: dict[str, Any], cams: Cameras, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    work = root / run["label"].replace(" ", "_").replace("/", "-")
    run.update(api_port=free_port(), token=secrets.token_urlsafe(24))
    config = vigil_config(run, cams, args, work)
    out: dict[str, Any] = {k: run[k] for k in ("label", "mode", "decoder", "model", "gate")}
    reason = unavailable(config, run["decoder"])
    if reason:
        return {**out, "available": False, "reason": reason}
    vigil = Vigil(config, work, run["token"], run["api_port"])
    started = time.monotonic()
    try:
        vigil.start(args.cameras, args.start_timeout)
        time.sleep(args.warmup)
        window = vigil.measure(cams.pids, args.seconds)
    except (RuntimeError, OSError) as exc:
        return {**out, "available": True, "failed": str(exc)[-1500:]}
    finally:
        exit_code = vigil.stop()
    return {
        **out,
        "available": True,
        **figures(window, args),
        "exit_code": exit_code,
        "run_s": round(time.monotonic() - started, 1),
    }


def figures(window: Any, args: argparse.Namespace) -> dict[str, Any]:
    n, wall = args.cameras, window.wall_s
    rates = {camera: {k: round(v / wall, 2) for k, v in row.items()} for camera, row in sorted(window.per_camera.items())}
    slowest_seen = min((r["seen"] for r in rates.values()), default=0.0)
    slowest_in = min((r["in"] for r in rates.values()), default=0.0)
    stream = next(iter(window.streams.values()), {})
    return {
        "cpu_per_camera_pct": round(100 * window.vigil_cpu_s / wall / n, 2),
        "vigil_cores": round(window.vigil_cpu_s / wall, 3),
        "server_cores": round(window.server_cpu_s / wall, 3),
        "window_s": round(wall, 1),
        "fps_per_camera": {k: round(window.frames[k] / wall / n, 2) for k in ("seen", "decoded", "frames_in", "frames_inferred")},
        "slowest_camera_fps": {"seen": slowest_seen, "to_model": slowest_in},
        "kept_up": len(rates) == n and slowest_seen >= KEPT_UP * args.fps and slowest_in >= KEPT_UP * DETECT_FPS,
        "picture": [stream.get("width"), stream.get("height")],
        "reported_decoder": {k: v for k, v in stream.items() if "decod" in k} or None,
    }


def record_input_cost(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    """What demuxing the main stream for clips adds per camera: sub minus subonly (model off), by decoder."""
    cpu = {(r["mode"], r["decoder"]): r.get("cpu_per_camera_pct") for r in runs if r["model"] == "off" and not r["gate"]}
    out = {
        d: round(cpu[("sub", d)] - cpu[("subonly", d)], 2)
        for d in DECODERS
        if cpu.get(("sub", d)) is not None and cpu.get(("subonly", d)) is not None
    }
    return out or None


def plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = [
        {"label": f"{mode}/{decoder}/model {model}", "mode": mode, "decoder": decoder, "model": model, "gate": False}
        for model in args.models
        for mode in args.modes
        for decoder in args.decoders
    ]
    if args.breakdown:
        runs += [
            {"label": f"subonly/{decoder}/model off", "mode": "subonly", "decoder": decoder, "model": "off", "gate": False}
            for decoder in args.decoders
        ]
    if args.gate_runs and "sub" in args.modes:
        runs += [
            {"label": f"sub+gate/{decoder}/model off", "mode": "sub", "decoder": decoder, "model": "off", "gate": True}
            for decoder in args.decoders
        ]
    return runs


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cameras", type=int, default=16)
    p.add_argument("--seconds", type=float, default=30.0, help="The measured window of each run.")
    p.add_argument("--warmup", type=float, default=10.0, help="Seconds between every camera streaming and the window.")
    p.add_argument("--clip-s", type=float, default=10.0, help="Length of each camera's clip (it loops).")
    p.add_argument("--fps", type=int, default=25, help="The cameras' frame rate.")
    p.add_argument("--servers", type=int, default=2, help="RTSP server processes sharing the cameras.")
    p.add_argument("--modes", type=_names(MODES), default=MODES, help=f"Comma-separated, of {','.join(MODES)}.")
    p.add_argument("--decoders", type=_names(DECODERS), default=DECODERS, help=f"Of {','.join(DECODERS)}.")
    p.add_argument("--models", type=_names(MODELS), default=MODELS, help="off (decoding alone), on (YOLOv8n 320).")
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="Also detect on the substream alone, no record input (model off): what demuxing the main stream costs.",
    )
    p.add_argument("--no-gate-runs", dest="gate_runs", action="store_false", help="Leave out the P6 runs (gate on).")
    p.add_argument("--start-timeout", type=float, default=120.0, help="Longest wait for every camera to stream.")
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "vigil-bench" / "decode"), help="Where clips are kept.")
    p.add_argument("--workdir", help="Where the runs' configs and logs go (default: a temporary folder, removed).")
    p.add_argument("--out", help="Also write the JSON report here.")
    p.add_argument("--prepare", action="store_true", help="Only make the clips (and the tiny model), then stop.")
    args = p.parse_args(argv)
    if args.cameras < 1 or args.seconds <= 0 or args.warmup < 0:
        p.error("--cameras must be >= 1, --seconds > 0 and --warmup >= 0")
    return args


def _names(allowed: tuple[str, ...]) -> Any:
    def parse_list(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        wrong = [n for n in names if n not in allowed]
        if wrong or not names:
            raise argparse.ArgumentTypeError(f"{','.join(wrong) or 'nothing'}: choose from {','.join(allowed)}")
        return names

    return parse_list


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    settings = ClipSettings(seconds=args.clip_s, fps=args.fps)
    cache = Path(args.cache)
    made = time.monotonic()
    clips = [camera_clips(cache / "clips", i, settings) for i in range(args.cameras)]
    tiny_model(cache)
    made_s = round(time.monotonic() - made, 1)
    if args.prepare:
        print(json.dumps({"clips": [str(c) for pair in clips for c in pair], "made_s": made_s}, indent=2))
        return 0
    keep = max(1, round(args.fps / DETECT_FPS))
    floor = {"main": decode_floor(clips[0][0], keep), "sub": decode_floor(clips[0][1], keep)}
    cams = Cameras(clips, args.servers)
    cams.start()
    runs: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="vigil-decode-") as tmp:
            root = Path(args.workdir) if args.workdir else Path(tmp)
            for run in plan(args):
                runs.append(measure_run(run, cams, args, root))
                print(summary_table(runs[-1:], header=len(runs) == 1), file=sys.stderr, flush=True)
                if not cams.alive():
                    raise RuntimeError("an RTSP server process died")
    finally:
        cams.stop()
    report = {
        "cameras": args.cameras,
        "camera": {
            "main": "1920x1080",
            "sub": "640x360",
            "fps": args.fps,
            "gop": settings.gop,
            "kbps": [settings.main_kbps, settings.sub_kbps],
        },
        "detect_fps": DETECT_FPS,
        "warmup_s": args.warmup,
        "window_s": args.seconds,
        "rtsp_servers": len(cams.ports),
        "clips_made_s": made_s,
        "pyav_decode_floor_pct": floor,
        "runs": runs,
        "goals": goals(runs, args.cameras),
        "record_input_cpu_per_camera_pct": record_input_cost(runs),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
