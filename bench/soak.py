"""The chaos run of issue 26: `vigil run` as a real process for a given time, with everything
around it failing, and a report of what it lost, whether it recovered and how its memory went.

    python bench/soak.py --minutes 60 [--out soak.json]     # full chaos
    python bench/soak.py --minutes 25 --calm                 # no faults: memory over time only
    python bench/soak.py --minutes 25 --calm --tracemalloc DIR  # and where Python memory grows

Everything runs on loopback and is started here: RTSP cameras (Debian's GStreamer RTSP server)
serving a clip of a face crossing a line and entering a zone (the real YOLOv8n of the nudenet
wheel finds it; the daemon tracks it and makes events), a webhook receiver and an MQTT subscriber
in this process, mosquitto (with persistence: a restart keeps the subscriber's session) and a
3-node NATS JetStream cluster; the outputs (JSONL, event snapshots, clips, spools) go to a tmpfs
mounted here. The faults (bench/_soak_chaos.py), each at random times: camera servers killed and
restarted, the webhook receiver stopped or answering 503, mosquitto restarted, one NATS node
killed and restarted, the output disk filled and freed, SIGHUP reloads changing a camera and a
sink, streams added and deleted over the API. Then every fault is cleared, the cameras run on
for a while, are stopped, the sinks drain, and the report (bench/_soak_report.py) compares every
event's id in the JSONL file with what the webhook, MQTT and NATS received, against the drops
vigil counted (`vigil_sink_dropped_total`). RSS and open descriptors of the vigil process are
sampled from /proc all along. Needs root (the tmpfs mount).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.resources
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _soak_chaos import Chaos  # noqa: E402
from _soak_probe import Api, CounterTotals, rss_and_fds  # noqa: E402
from _soak_report import finish_report, summary  # noqa: E402
from _soak_services import (  # noqa: E402
    LINE_X,
    ZONE_X,
    MqttSubscriber,
    PersistentMosquitto,
    Rtsp,
    Tmpfs,
    WebhookReceiver,
    free_port,
    make_clip,
)

from tests.support.nats_server import NatsCluster, wait_for_jetstream  # noqa: E402

HERE = Path(__file__).resolve().parent


@dataclass
class Options:
    minutes: float = 60.0
    calm: bool = False
    cameras: int = 4
    seed: int = 1
    sample_s: float = 5.0
    warmup_min: float | None = None  # default: 20% of the run, at most 5 minutes
    tail_s: float = 40.0  # fault-free minutes before the end: the sinks must resume
    tmpfs_mb: int = 384
    keep_s: float = 180.0  # clips and snapshots older than this are deleted (a retention job)
    image_size: int = 640
    tracemalloc: str | None = None
    tracemalloc_every_s: float = 300.0
    faults: tuple[str, ...] = ()  # only these fault loops (bench/_soak_chaos.py function names); empty: all
    vigil_env: tuple[str, ...] = ()  # KEY=VALUE for the vigil process only (e.g. glibc's MALLOC_ARENA_MAX)
    out: str | None = None
    workdir: str | None = None


class Soak:
    def __init__(self, opts: Options, work: Path) -> None:
        self.opts, self.work = opts, work
        self.rng = random.Random(opts.seed)
        self.token = secrets.token_urlsafe(24)
        self.api_port = free_port()
        self.config = work / "vigil.yaml"
        self.proc: subprocess.Popen[bytes] | None = None
        self.samples: list[dict[str, Any]] = []
        self.reload_flip = False
        self.dropped = CounterTotals("vigil_sink_dropped_total", "sink", "reason")  # across sink replacements

    # The configuration

    def camera(self, name: str, url: str, *, clips: bool) -> dict[str, Any]:
        source: dict[str, Any] = {
            "name": name,
            "url": url,
            "open_timeout_s": 5,
            "stall_timeout_s": 5,
            "reconnect": {"initial_s": 0.5, "max_s": 4.0},
            "tracking": {
                "classes": ["FACE_FEMALE", "FACE_MALE"],
                "track_activation_threshold": 0.5,
                "high_confidence_threshold": 0.5,
            },
            "lines": [{"name": "door", "start": [LINE_X, 0], "end": [LINE_X, 480]}],
            "zones": [{"name": "shop", "polygon": [[ZONE_X, 0], [640, 0], [640, 480], [ZONE_X, 480]]}],
        }
        if clips:
            source["clips"] = {"directory": str(self.out / "clips"), "pre_roll_s": 1.0, "post_roll_s": 1.0}
        return source

    def write_config(self) -> None:
        """The YAML; `reload_flip` changes camera cam0 (its max_fps) and the webhook (its retry_max_s)."""
        sources = [self.camera(f"cam{i}", cam.url, clips=i < 2) for i, cam in enumerate(self.cameras)]
        if self.reload_flip:
            sources[0]["max_fps"] = 12.0
        spool = {"spool_max_mb": 16, "records": ["events"], "retry_initial_s": 0.2, "probe_interval_s": 1.0}
        sinks = [
            {"kind": "jsonl", "name": "jsonl", "path": str(self.out / "events.jsonl"), "records": ["events"]},
            {"kind": "snapshot", "name": "pictures", "directory": str(self.out / "snapshots"), "records": ["events"]},
            {
                "kind": "webhook",
                "name": "hook",
                "url": self.hook.url,
                "spool_dir": str(self.out / "spool" / "hook"),
                "retry_max_s": 5.0 if self.reload_flip else 4.0,
                **spool,
            },
            {
                "kind": "mqtt",
                "name": "mqtt",
                "host": "127.0.0.1",
                "port": self.broker.port,
                "spool_dir": str(self.out / "spool" / "mqtt"),
                "retry_max_s": 4.0,
                **spool,
            },
            {
                "kind": "nats",
                "name": "nats",
                "servers": self.nats.urls,
                "replicas": 3,
                "spool_dir": str(self.out / "spool" / "nats"),
                "retry_max_s": 4.0,
                **spool,
            },
        ]
        config = {
            "model": {"path": str(importlib.resources.files("nudenet") / "320n.onnx"), "image_size": self.opts.image_size},
            "sources": sources,
            "batch": {"max_batch": 4},
            "sinks": sinks,
            "api": {
                "host": "127.0.0.1",
                "port": self.api_port,
                "token": self.token,
                "state_file": str(self.work / "state" / "api.json"),
            },
            "shutdown_timeout_s": 20.0,
        }
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=1))  # JSON is YAML
        tmp.replace(self.config)

    # Starting and stopping

    async def start_services(self, stack: contextlib.AsyncExitStack) -> None:
        minutes = self.opts.minutes
        clip = await asyncio.to_thread(make_clip, self.work / "face.mp4", minutes * 60 + 120)
        self.tmpfs = Tmpfs(self.opts.tmpfs_mb)
        stack.callback(self.tmpfs.close)
        self.out = self.tmpfs.path
        self.cameras = [Rtsp(clip) for _ in range(self.opts.cameras)]
        self.extra = Rtsp(clip)  # the camera of the streams added over the API
        for cam in [*self.cameras, self.extra]:
            stack.callback(cam.kill)
            await asyncio.to_thread(cam.start)
        self.hook = WebhookReceiver()
        stack.push_async_callback(self.hook.close)
        await self.hook.start()
        self.broker = PersistentMosquitto(self.work / "mosquitto")
        stack.callback(self.broker.stop)
        await asyncio.to_thread(self.broker.start)
        self.subscriber = MqttSubscriber(self.broker.port)
        task = asyncio.create_task(self.subscriber.run())
        stack.push_async_callback(self._stop_task, task, self.subscriber.stop)
        await asyncio.wait_for(self.subscriber.connected.wait(), 30)
        self.nats = NatsCluster(self.work / "nats")
        stack.callback(self.nats.stop)
        await asyncio.to_thread(self.nats.start)
        await wait_for_jetstream(self.nats.urls, timeout=60)

    @staticmethod
    async def _stop_task(task: asyncio.Task[None], stop: asyncio.Event) -> None:
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            task.cancel()

    async def start_vigil(self, stack: contextlib.AsyncExitStack, api: Api) -> None:
        self.write_config()
        if self.opts.tracemalloc:
            cmd = [sys.executable, str(HERE / "_traced_vigil.py"), self.opts.tracemalloc, str(self.opts.tracemalloc_every_s)]
        else:
            cmd = [sys.executable, "-m", "vigil"]
        log = open(self.work / "vigil.log", "ab")
        self.proc = subprocess.Popen(
            [*cmd, "run", str(self.config)], stdout=log, stderr=subprocess.STDOUT, cwd=self.work, env=self.vigil_env()
        )
        log.close()
        stack.callback(self.stop_vigil)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vigil exited with {self.proc.returncode} at start; see {self.work / 'vigil.log'}")
            with contextlib.suppress(OSError, asyncio.TimeoutError, RuntimeError, KeyError):
                streams = await api.streams()
                if all(s.get("state") == "streaming" for s in streams.values()) and len(streams) >= len(self.cameras):
                    return
            await asyncio.sleep(1)
        raise RuntimeError("the cameras were not all streaming within 300 s of starting vigil")

    def vigil_env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for item in self.opts.vigil_env:
            key, _, value = item.partition("=")
            env[key] = value
        return env

    def stop_vigil(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode

    # While it runs

    async def sample(self, api: Api, until: float) -> None:
        """RSS, descriptors and /healthz latency every `sample_s`, until `until` (monotonic)."""
        t0 = self.t0
        while time.monotonic() < until and self.proc is not None and self.proc.poll() is None:
            row: dict[str, Any] = {"t": round(time.monotonic() - t0, 1)}
            with contextlib.suppress(OSError):
                row["rss_mib"], row["fds"] = rss_and_fds(self.proc.pid)
            try:
                row["healthz_s"] = round(await api.healthz_latency(), 4)
                await self.scrape_counters(api)
            except Exception as exc:  # noqa: BLE001  (a failed probe is a figure too)
                row["healthz_error"] = repr(exc)[:200]
            row["disk_free_mib"] = round(self.tmpfs.usage()["free"] / 2**20, 1)
            self.samples.append(row)
            with open(self.work / "samples.jsonl", "a") as f:  # to watch a long run as it goes
                f.write(json.dumps(row) + "\n")
            if len(self.samples) % max(1, round(60 / self.opts.sample_s)) == 1:
                print(f"soak: {row}", file=sys.stderr, flush=True)
            await asyncio.sleep(max(0.0, self.opts.sample_s - 0.05))

    async def scrape_counters(self, api: Api) -> None:
        self.dropped.update(await api.metrics())

    async def prune(self, until: float) -> None:
        """The retention job: clips and snapshots older than `keep_s` go (tmpfs is memory)."""
        while time.monotonic() < until:
            await asyncio.sleep(min(30.0, max(0.1, until - time.monotonic())))
            cutoff = time.time() - self.opts.keep_s
            await asyncio.to_thread(_delete_older, [self.out / "clips", self.out / "snapshots"], cutoff)

    async def run(self) -> dict[str, Any]:
        opts = self.opts
        async with contextlib.AsyncExitStack() as stack:
            await self.start_services(stack)
            api = await stack.enter_async_context(Api(self.api_port, self.token))
            await self.start_vigil(stack, api)
            assert self.proc is not None
            self.t0, self.t0_unix = time.monotonic(), time.time()
            end = self.t0 + opts.minutes * 60
            warmup_s = opts.warmup_min * 60 if opts.warmup_min is not None else min(300.0, 0.2 * opts.minutes * 60)
            chaos = Chaos(self, api, self.rng, calm=opts.calm, only=opts.faults)
            chaos_end = end - (0 if opts.calm else opts.tail_s)
            background = [
                asyncio.create_task(self.sample(api, end)),
                asyncio.create_task(self.prune(end)),
                asyncio.create_task(chaos.watch_cameras(end)),
            ]
            try:
                await asyncio.sleep(warmup_s)
                metrics_warm = await api.metrics()
                await chaos.run(chaos_end)
                tail_start = await api.metrics()
                await asyncio.sleep(max(0.0, end - time.monotonic()))
                report = await finish_report(self, api, chaos, metrics_warm, tail_start, warmup_s)
            finally:
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
            report["vigil_exit_code"] = self.stop_vigil()
            report["vigil_log_errors"] = _log_lines(self.work / "vigil.log", ("Traceback", "CRITICAL"))
            return report


def _delete_older(folders: list[Path], cutoff: float) -> None:
    for folder in folders:
        for path in folder.rglob("*") if folder.exists() else []:
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()


def _log_lines(path: Path, needles: tuple[str, ...], most: int = 20) -> list[str]:
    if not path.exists():
        return []
    hits = [line for line in path.read_text(errors="replace").splitlines() if any(n in line for n in needles)]
    return hits[:most]


def parse(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--calm", action="store_true", help="no faults: memory and descriptors over time")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sample-s", type=float, default=5.0, help="seconds between RSS/descriptor samples")
    p.add_argument("--warmup-min", type=float, default=None, help="minutes before slopes count (default 20%%, at most 5)")
    p.add_argument("--tail-s", type=float, default=40.0, help="fault-free seconds at the end (sinks must resume)")
    p.add_argument("--tmpfs-mb", type=int, default=384)
    p.add_argument("--image-size", type=int, default=640)
    p.add_argument("--tracemalloc", metavar="DIR", help="run vigil under tracemalloc, snapshots into DIR")
    p.add_argument("--tracemalloc-every-s", type=float, default=300.0)
    p.add_argument(
        "--faults",
        default="",
        help="only these faults, comma-separated: kill_camera, webhook_fault, "
        "restart_mosquitto, restart_nats_node, fill_disk, reload, add_and_delete_stream",
    )
    p.add_argument(
        "--vigil-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable for the vigil process only (repeatable), e.g. MALLOC_ARENA_MAX=2",
    )
    p.add_argument("--out", help="write the JSON report here too")
    p.add_argument("--workdir", help="keep the work files here (default: a temporary directory, removed)")
    a = p.parse_args(argv)
    return Options(
        minutes=a.minutes,
        calm=a.calm,
        cameras=a.cameras,
        seed=a.seed,
        sample_s=a.sample_s,
        warmup_min=a.warmup_min,
        tail_s=a.tail_s,
        tmpfs_mb=a.tmpfs_mb,
        image_size=a.image_size,
        tracemalloc=a.tracemalloc,
        tracemalloc_every_s=a.tracemalloc_every_s,
        vigil_env=tuple(a.vigil_env),
        faults=tuple(f for f in a.faults.split(",") if f),
        out=a.out,
        workdir=a.workdir,
    )


async def soak(opts: Options) -> dict[str, Any]:
    work = Path(opts.workdir) if opts.workdir else Path(tempfile.mkdtemp(prefix="vigil-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        report = await Soak(opts, work).run()
    finally:
        if not opts.workdir:
            shutil.rmtree(work, ignore_errors=True)
    report["options"] = asdict(opts)
    return report


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    loop = asyncio.new_event_loop()
    main_task = loop.create_task(soak(opts))
    for sig in (signal.SIGTERM, signal.SIGINT):  # stop everything started, then exit
        loop.add_signal_handler(sig, main_task.cancel)
    try:
        report = loop.run_until_complete(main_task)
    except asyncio.CancelledError:
        print("soak: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        loop.close()
    text = json.dumps(report, indent=1)
    if opts.out:
        Path(opts.out).write_text(text + "\n")
    print(text)
    print(summary(report), file=sys.stderr)
    return 0 if report["goals"]["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
