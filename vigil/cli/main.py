"""The `vigil` command. The only place in vigil that exits the process.

    vigil run CONFIG.yaml          the daemon: serve the configured streams until SIGTERM/SIGINT;
                                   SIGHUP reloads the file (streams added, removed or changed)
    vigil run --model M --source S --out F    one run over sources given as flags (files end)
    vigil check CONFIG.yaml        validate a configuration without starting anything
    vigil check --decoders CONFIG  which decoder each camera gets on this machine, and why
    vigil config schema            the configuration's JSON Schema
    vigil demo                     the pipeline on built-in material
    vigil models ...               resolve, pull, list, verify, remove, import models; build-engine (TensorRT)
    vigil fleet apply|list|remove  the cameras a fleet of boxes shares (docs/SCALING.md; exit 3: NATS unreachable)
    vigil eval CLIP --truth GT.txt   score vigil on a labelled clip: HOTA, IDF1, ID switches, counts, speeds (docs/EVAL.md)

Exit codes: 0 every source ran to its end (or the daemon was stopped); 1 at least one source or
batch failed (the other results are written), or `models resolve` found no package that can
run; 2 bad usage or configuration, or the model could not be loaded; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

import vigil
from vigil.cli import _loop
from vigil.cli import eval as cli_eval
from vigil.cli import fleet as cli_fleet
from vigil.cli import models as cli_models
from vigil.cli.check import check_config
from vigil.cli.progress import Progress, progress_wanted
from vigil.config import PipelineConfig
from vigil.config.daemon import DaemonConfig
from vigil.config.loader import load_config
from vigil.config.urls import kind_of_url
from vigil.daemon.assemble import build_pipeline
from vigil.daemon.logs import configure_logging
from vigil.daemon.signals import StopSignals
from vigil.errors import VigilError
from vigil.pipeline.runner import PipelineReport

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

log = logging.getLogger("vigil")

_NAMED_SOURCE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})=(.+)$")


def _add_run_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="run the daemon from a config file, or one run over sources given as flags")
    run.add_argument("config", nargs="?", help="YAML configuration (examples/vigil.yaml); no other flag then")
    run.add_argument("--model", help="path of an Ultralytics YOLO detection ONNX export (or a model directory / URL)")
    run.add_argument(
        "--source",
        action="append",
        metavar="[NAME=]FILE",
        help="a video file, rtsp:// URL or v4l2:/dev/videoN; repeat for several; NAME defaults to the file's stem",
    )
    run.add_argument("--out", help="JSON Lines file to append results to (optional when another output is given)")
    run.add_argument("--webhook", metavar="URL", help="also POST results to this URL (docs/OUTPUT.md, 'Webhook')")
    run.add_argument("--webhook-secret-file", metavar="PATH", help="sign webhook requests with the secret in this file")
    run.add_argument(
        "--spool-dir",
        metavar="DIR",
        help="where webhook results wait until delivered (default: spool/ beside --out, else ./vigil-spool)",
    )
    run.add_argument(
        "--spool-max-mb",
        type=int,
        metavar="N",
        help="most MiB the webhook spool keeps; at the cap the oldest undelivered results are dropped (default 512)",
    )
    run.add_argument("--video-dir", metavar="DIR", help="record every frame, detections drawn, as MP4 segments in DIR/SOURCE/")
    run.add_argument("--video-segment-minutes", type=float, metavar="M", help="capture time per video segment file (default 5)")
    run.add_argument(
        "--snapshot-dir", metavar="DIR", help="save a JPEG and its JSON record of frames with detections in DIR/SOURCE/"
    )
    run.add_argument(
        "--snapshot-interval-s", type=float, metavar="S", help="at most one snapshot per source every S seconds (default 10)"
    )
    run.add_argument("--max-fps", type=float, default=None, help="sample every source down to this rate")
    run.add_argument("--realtime", action="store_true", help="pace files by their timestamps, like cameras")
    run.add_argument("--loop", action="store_true", help="start files again at their end (stop with Ctrl-C)")
    run.add_argument("--max-batch", type=int, default=4, help="most frames per inference call (default 4)")
    run.add_argument("--max-delay-ms", type=float, default=10.0, help="longest wait for a batch to fill (default 10)")
    run.add_argument(
        "--max-staleness-ms",
        type=float,
        default=1000.0,
        help="drop a camera frame older than this when its batch forms (default 1000)",
    )
    run.add_argument("--confidence", type=float, default=0.25, help="minimum detection confidence (default 0.25)")
    run.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (default 0.7)")
    run.add_argument("--image-size", type=int, default=None, help="inference size for dynamic exports")
    run.add_argument(
        "--quantization",
        action="append",
        choices=["fp32", "fp16", "bf16", "int8"],
        help="package precision allowed, best first (repeat for several); forces int8 or fp32 over the resolver's choice",
    )
    run.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="Streaming video analytics.")
    parser.add_argument("--version", action="version", version=f"vigil {vigil.__version__}")
    parser.add_argument(
        "--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default INFO (or the config's)"
    )
    parser.add_argument(
        "--log-format", default=None, choices=["auto", "text", "json"], help="text on a terminal, JSON lines otherwise"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_parser(sub)
    check = sub.add_parser("check", help="validate a configuration file without starting anything")
    check.add_argument("config", help="YAML configuration")
    check.add_argument("--decoders", action="store_true", help="print only which decoder each source gets here, and why")
    config = sub.add_parser("config", help="configuration helpers")
    config.add_argument("action", choices=["schema"], help="schema: print the configuration's JSON Schema")
    demo = sub.add_parser("demo", help="run the pipeline on built-in material (needs the demo extra)")
    demo.add_argument("--out", default="vigil-demo", help="directory for the outputs (default ./vigil-demo)")
    demo.add_argument("--seconds", type=float, default=8.0, help="length of the demo video (default 8)")
    demo.add_argument("--serve", action="store_true", help="keep the console up: the sources loop until Ctrl-C / SIGTERM")
    demo.add_argument("--port", type=int, default=0, help="the console's port on 127.0.0.1 (default 0: a free one, printed)")
    cli_models.add_parser(sub)
    cli_fleet.add_parser(sub)
    cli_eval.add_parser(sub)
    return parser


def _source_configs(values: list[str]) -> list[dict[str, str]]:
    configs, used = [], set()
    for value in values:
        match = _NAMED_SOURCE.match(value)
        if match:
            name, url = match.group(1), match.group(2)
        else:
            stem = _default_name(value)
            name, n = stem, 2
            while name in used:
                name, n = f"{stem}-{n}", n + 1
            url = value
        used.add(name)
        configs.append({"name": name, "url": url})
    return configs


def _file_flags(url: str, args: argparse.Namespace) -> dict[str, bool]:
    """--realtime and --loop are settings of file sources; cameras and webcams have none."""
    return {"realtime": args.realtime, "loop": args.loop} if kind_of_url(url) == "file" else {}


def _default_name(value: str) -> str:
    """A source's name from its file stem, or for a URL from the last part of its path, else its
    host and port: never from the user part, which may hold a password."""
    if "://" in value:
        try:
            parts = urlsplit(value)
        except ValueError:  # an unclosed '[': the URL's validation reports it
            return "source"
        stem = Path(parts.path).stem
        if not stem:
            try:
                port = parts.port
            except ValueError:  # a bad port: the URL's validation reports it
                port = None
            stem = (parts.hostname or "") + (f"-{port}" if port else "")
    else:
        stem = Path(value).stem
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem).strip("_.-")[:64] or "source"


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    # Validated as one tree so an error names its full path (model.confidence, batch.max_batch).
    return PipelineConfig.model_validate(
        {
            "model": {
                "path": args.model,
                "confidence": args.confidence,
                "iou": args.iou,
                "image_size": args.image_size,
                "quantization": args.quantization,
                "onnxruntime": {"intra_op_threads": args.threads},
            },
            "sources": [
                {**source, "max_fps": args.max_fps, **_file_flags(source["url"], args)} for source in _source_configs(args.source)
            ],
            "batch": {
                "max_batch": args.max_batch,
                "max_delay_ms": args.max_delay_ms,
                "max_staleness_ms": args.max_staleness_ms,
            },
            "sinks": _sink_entries(args),
        }
    )


def _sink_entries(args: argparse.Namespace) -> list[dict[str, object]]:
    """The `sinks:` entries the output flags ask for, each named after its kind."""
    entries: list[dict[str, object]] = []
    if args.out:
        entries.append({"kind": "jsonl", "path": args.out})
    if args.webhook:
        spool = args.spool_dir or (str(Path(args.out).parent / "spool") if args.out else "vigil-spool")
        entries.append({"kind": "webhook", "url": args.webhook, "secret_file": args.webhook_secret_file, "spool_dir": spool})
        if args.spool_max_mb is not None:
            entries[-1]["spool_max_mb"] = args.spool_max_mb
    if args.video_dir:
        entries.append({"kind": "video", "directory": args.video_dir, **_given(segment_minutes=args.video_segment_minutes)})
    if args.snapshot_dir:
        entries.append({"kind": "snapshot", "directory": args.snapshot_dir, **_given(interval_s=args.snapshot_interval_s)})
    return entries


def _flag_section(loc: tuple[object, ...], entries: list[dict[str, object]]) -> str:
    """`webhook.spool_max_mb` for `sinks.1.spool_max_mb`: the flags made one entry per kind."""
    if len(loc) > 1 and loc[0] == "sinks" and isinstance(loc[1], int) and loc[1] < len(entries):
        loc = (entries[loc[1]]["kind"], *loc[2:])
    return ".".join(map(str, loc))


def _given(**options: float | None) -> dict[str, float]:
    """The options given on the command line; the others keep their defaults."""
    return {key: value for key, value in options.items() if value is not None}


def _exit_now() -> None:
    """A second SIGINT/SIGTERM: out at once, whatever is still in flight."""
    os._exit(EXIT_INTERRUPTED)


async def _run(config: PipelineConfig, progress: bool = False) -> PipelineReport:
    display = Progress(sys.stderr) if progress else None
    pipeline = await build_pipeline(config, display)
    try:
        log.info(
            "model %s: batch %d, %d source(s) -> %s",
            pipeline.model.model_id,
            pipeline.batch_size,
            len(pipeline.sources),
            ", ".join(s.name for s in pipeline.sinks),
        )
        with StopSignals(pipeline.request_stop, _exit_now), display or contextlib.nullcontext():
            return await pipeline.run()
    finally:
        pipeline.model.close()


def _main_config(args: argparse.Namespace) -> int:
    """The commands that take a configuration file (or none): run, check, config, demo."""
    if args.command == "config":
        print(json.dumps(DaemonConfig.model_json_schema(), indent=2))
        return EXIT_OK
    if args.command == "demo":
        from vigil.cli.demo import run_demo, summary_text  # PyAV, OpenCV: only for the demo

        configure_logging(args.log_level or "WARNING", args.log_format or "auto")
        try:
            figures = _loop.run(run_demo(Path(args.out), args.seconds, serve=args.serve, port=args.port, force=_exit_now))
        except VigilError as exc:
            print(f"vigil: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(summary_text(figures))
        return EXIT_OK
    try:
        if args.command == "check":
            print(check_config(Path(args.config), decoders_only=args.decoders))
            return EXIT_OK
        config = load_config(Path(args.config))  # validated, and the files it names read
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(args.log_level or config.logging.level, args.log_format or config.logging.format)
    try:
        report = _loop.run(_serve(Path(args.config), config))
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    log.info("%s", _summary(report))
    return EXIT_SOURCE_FAILED if report.failed_batches else EXIT_OK


async def _serve(path: Path, config: DaemonConfig) -> PipelineReport:
    """The daemon until SIGTERM/SIGINT (a second one exits at once); SIGHUP reloads `path`."""
    from vigil.daemon.service import Daemon  # aiohttp, prometheus-client: only for the daemon

    return await (await Daemon.for_file(path, config, os.environ)).serve(path, force=_exit_now)


def _summary(report: PipelineReport) -> str:
    """frames/s over the processing time only: the shutdown (a webhook backlog) is told apart."""
    per_source = ", ".join(
        f"{s.source_id}={s.results}" + (f" (started {s.starts} times)" if s.starts > 1 else "") for s in report.sources.values()
    )
    return (
        f"done: {report.results} results in {report.processing_s:.1f} s ({report.frames_per_s:.1f} frames/s); "
        f"shutdown took {report.shutdown_s:.1f} s: {per_source}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    faulthandler.enable()  # a watchdog kill (SIGABRT) leaves every thread's stack in the journal
    if args.command in ("check", "config", "demo") or (args.command == "run" and args.config):
        if args.command == "run" and (args.model or args.source):
            parser.error("vigil run: give a config file or --model/--source flags, not both")
        return _main_config(args)
    if args.command == "run" and not (args.model and args.source):
        parser.error("vigil run: give a config file (vigil run vigil.yaml) or --model and --source")
    if args.command == "run" and not (args.out or args.webhook or args.video_dir or args.snapshot_dir):
        parser.error("vigil run: give at least one output: --out FILE, --webhook URL, --video-dir DIR or --snapshot-dir DIR")
    if args.command == "run" and (
        (args.video_segment_minutes is not None and not args.video_dir)
        or (args.snapshot_interval_s is not None and not args.snapshot_dir)
    ):
        parser.error(
            "vigil run: --video-segment-minutes goes with --video-dir DIR, --snapshot-interval-s with --snapshot-dir DIR"
        )
    if (
        args.command == "run"
        and not args.webhook
        and (args.webhook_secret_file or args.spool_dir or args.spool_max_mb is not None)
    ):
        parser.error("vigil run: --webhook-secret-file, --spool-dir and --spool-max-mb go with --webhook URL")
    if args.command == "fleet":
        configure_logging(args.log_level or "WARNING", args.log_format or "auto")
        return cli_fleet.run(args)
    if args.command == "eval":
        configure_logging(args.log_level or "WARNING", args.log_format or "auto")
        return cli_eval.run(args)
    configure_logging(args.log_level or "INFO", args.log_format or "auto")
    if args.command == "models":
        try:
            return cli_models.run(args)
        except VigilError as exc:
            print(f"vigil: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        config = config_from_args(args)
    except ValidationError as exc:
        entries = _sink_entries(args)
        errors = "; ".join(f"{_flag_section(tuple(e['loc']), entries)}: {e['msg']}" for e in exc.errors())
        print(f"vigil: error: invalid arguments: {errors}", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = _loop.run(_run(config, progress_wanted(sys.stderr, args.log_format, os.environ)))
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    log.info("%s", _summary(report))
    if report.failed_batches:
        log.error("%d batch(es) failed; their frames have no results (see the errors above)", report.failed_batches)
    failed = report.failed_sources or report.failed_batches or not report.sources
    return EXIT_SOURCE_FAILED if failed else EXIT_OK
