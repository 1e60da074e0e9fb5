"""A fleet for the tests (and the benchmark): a 3-node NATS cluster, one test RTSP server serving
N looping cameras, and boxes that are real `vigil run` processes with a `fleet:` section, each
writing its own JSONL. `records()` reads back who ran which camera when (capture_time), from
which the tests compute failover times, dark gaps and double runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.support.nats_server import NatsCluster, NatsServer, wait_for_jetstream
from tests.support.ports import free_port
from vigil.config.fleet import FleetConfig
from vigil.fleet.store import FleetStore

SERVER = Path(__file__).resolve().parents[2] / "support" / "rtsp_server.py"
SPLIT_S = 1.5  # a camera's records on one box further apart than this are two runs


class QuietNode(NatsServer):
    """A cluster node that does not advertise the others' client URLs: a box connected to it alone
    is cut off when it dies (its client cannot fail over to a node it never heard of)."""

    def config(self) -> str:
        return super().config().replace("routes: [", "no_advertise: true, routes: [")


class Cluster(NatsCluster):
    def __init__(self, directory: Path) -> None:
        self.nodes = [QuietNode(directory / f"n{i}", name=f"n{i}") for i in (1, 2, 3)]
        for node in self.nodes:
            node.routes = [other.cluster_port for other in self.nodes if other is not node]


@dataclass
class Box:
    name: str
    directory: Path
    servers: list[str]
    proc: subprocess.Popen[bytes] | None = None
    out: Path = field(init=False)

    def __post_init__(self) -> None:
        self.out = self.directory / "results.jsonl"

    def log(self, tail: int = 4000) -> str:
        path = self.directory / "stderr.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""


class Fleet:
    def __init__(self, directory: Path, model: Path, clip: Path, cameras: int = 6, lease_ttl_s: float = 6.0) -> None:
        self.directory, self.model, self.clip, self.count = directory, model, clip, cameras
        self.lease_ttl_s = lease_ttl_s
        self.cluster = Cluster(directory / "nats")
        self.rtsp: subprocess.Popen[str] | None = None
        self.rtsp_port = free_port()
        self.boxes: dict[str, Box] = {}

    @property
    def cameras(self) -> list[str]:
        return [f"cam{i}" for i in range(self.count)]

    # -- the services -----------------------------------------------------------------------

    def start(self) -> Fleet:
        self.cluster.start()
        asyncio.run(wait_for_jetstream(self.cluster.urls, timeout=60))
        mounts = [arg for camera in self.cameras for arg in ("--mount", f"{camera}={self.clip}")]
        self.rtsp = subprocess.Popen(
            ["/usr/bin/python3", str(SERVER), str(self.rtsp_port), *mounts],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.rtsp.stdout is not None
        assert self.rtsp.stdout.readline().strip() == "ready", "the RTSP server did not start"
        asyncio.run(self._declare())
        return self

    async def _declare(self) -> None:
        store = await FleetStore.connect(self.fleet_config("admin", self.cluster.urls))
        try:
            for camera in self.cameras:
                await store.put_camera(camera, {"url": f"rtsp://127.0.0.1:{self.rtsp_port}/{camera}", "max_fps": 5})
            for kind in ("cameras", "members", "leases", "moves"):  # the loss of one node changes nothing
                info = await store.nc.jetstream().stream_info(f"KV_vigil_fleet_{kind}")
                assert info.config.num_replicas == 3, (kind, info.config.num_replicas)
        finally:
            await store.close()

    def follower(self) -> NatsServer:
        """A node that leads none of the fleet's streams (their leaders stepped down from it when
        needed, as an operator moves them before taking a node down). Killing a leader stalls its
        stream until the cluster elects another, 4 to 9 s with nats-server 2.9 and more on a
        loaded machine: longer than two thirds of a 6 s lease, so the boxes rightly stop their
        cameras meanwhile (docs/SCALING.md)."""
        return asyncio.run(self._follower())

    async def _follower(self) -> NatsServer:
        node = self.cluster.nodes[-1]
        store = await FleetStore.connect(self.fleet_config("admin", self.cluster.urls))
        try:
            js = store.nc.jetstream(timeout=5)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                led = []
                for kind in ("cameras", "members", "leases", "moves"):
                    info = await js.stream_info(f"KV_vigil_fleet_{kind}")
                    if info.cluster is not None and info.cluster.leader == node.name:
                        led.append(f"KV_vigil_fleet_{kind}")
                if not led:
                    return node
                for stream in led:
                    try:
                        await store.nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", b"", timeout=5)
                    except Exception:  # noqa: BLE001 - asked again on the next pass
                        pass
                await asyncio.sleep(1.0)
            raise AssertionError(f"{node.name} still leads some of the fleet's streams")
        finally:
            await store.close()

    def fleet_config(self, box: str, servers: list[str]) -> FleetConfig:
        return FleetConfig.model_validate(
            {"servers": servers, "box": box, "lease_ttl_s": self.lease_ttl_s, "member_ttl_s": self.lease_ttl_s}
        )

    def stop(self) -> None:
        for box in self.boxes.values():
            if box.proc is not None and box.proc.poll() is None:
                box.proc.kill()
                box.proc.wait(10)
        if self.rtsp is not None:
            self.rtsp.kill()
            self.rtsp.wait(10)
            if self.rtsp.stdout is not None:
                self.rtsp.stdout.close()
        self.cluster.kill()

    # -- the boxes --------------------------------------------------------------------------

    def add_box(self, name: str, servers: list[str] | None = None) -> Box:
        box = self.boxes.get(name) or Box(name, self.directory / name, servers or self.cluster.urls)
        self.boxes[name] = box
        box.directory.mkdir(parents=True, exist_ok=True)
        config = box.directory / "vigil.yaml"
        fleet = {"servers": box.servers, "box": name, "lease_ttl_s": self.lease_ttl_s, "member_ttl_s": self.lease_ttl_s}
        config.write_text(
            f"model: {{path: {self.model}, image_size: 320}}\n"
            "sources: []\n"
            f"sinks:\n  - {{kind: jsonl, path: {box.out}}}\n"
            "api: {enabled: false}\n"
            "shutdown_timeout_s: 15\n"
            f"fleet: {json.dumps(fleet)}\n"
        )
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "STATE_DIRECTORY")}
        env["XDG_STATE_HOME"] = str(box.directory / "state")
        env["OMP_NUM_THREADS"] = "1"
        with (box.directory / "stderr.log").open("a") as stderr:
            box.proc = subprocess.Popen(
                [sys.executable, "-m", "vigil", "--log-format", "json", "run", str(config)], stderr=stderr, env=env
            )
        return box

    def signal(self, name: str, sig: int) -> float:
        box = self.boxes[name]
        assert box.proc is not None
        at = time.time()
        box.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            box.proc.wait(10)
        return at

    # -- what they did ----------------------------------------------------------------------

    def records(self, made: bool = False) -> dict[str, dict[str, list[float]]]:
        """camera -> box -> the capture times (unix seconds) of its records, sorted; `made`: when
        each result was ready instead (capture_time + since_capture: this host's clock on every
        box, where capture_time turns to the camera's RTCP clock, ~1 s earlier here, once known)."""
        out: dict[str, dict[str, list[float]]] = {}
        for name, box in self.boxes.items():
            if not box.out.exists():
                continue
            for line in box.out.read_text().splitlines():
                try:
                    record = json.loads(line)
                    at = datetime.fromisoformat(record["capture_time"].replace("Z", "+00:00")).timestamp()
                    at += record["timing_ms"]["since_capture"] / 1000 if made else 0.0
                except (ValueError, KeyError):
                    continue  # a line being written
                out.setdefault(record["source"], {}).setdefault(name, []).append(at)
        for boxes in out.values():
            for times in boxes.values():
                times.sort()
        return out

    def running(self, since: float, window: float = 2.0) -> dict[str, set[str]]:
        """camera -> the boxes that made a record of it within `window` s before now (after `since`)."""
        now = time.time()
        out: dict[str, set[str]] = {}
        for camera, boxes in self.records().items():
            for box, times in boxes.items():
                if times and times[-1] > max(since, now - window):
                    out.setdefault(camera, set()).add(box)
        return out


def runs(times: list[float]) -> list[tuple[float, float]]:
    """The stretches of a camera's records on one box (a gap over SPLIT_S starts another)."""
    out: list[tuple[float, float]] = []
    for at in times:
        if out and at - out[-1][1] <= SPLIT_S:
            out[-1] = (out[-1][0], at)
        else:
            out.append((at, at))
    return out


def double_runs(records: dict[str, dict[str, list[float]]], since: float = 0.0) -> list[str]:
    """Every camera record made by one box inside a run of the same camera on another box (of
    the records captured after `since`).

    Capture times compare across boxes once each box has the camera's clock (RTCP sender reports:
    the test server's first comes ~2.5 s into a connection). Before, they are this host's arrival
    times, late by as much as the box is behind in reading them: a box that starts a camera and
    hands it on within a second or two (the fleet's first shuffle, while the boxes start one after
    another) may stamp its few results later than the next holder's first ones. `since`: when
    the fleet settled, to leave that shuffle out."""
    records = {c: {b: [t for t in ts if t > since] for b, ts in boxes.items()} for c, boxes in records.items()}
    found = []
    for camera, boxes in records.items():
        for box, times in boxes.items():
            for other, other_times in boxes.items():
                if other == box:
                    continue
                for start, end in runs(other_times):
                    inside = [t for t in times if start < t < end]
                    if inside:
                        found.append(f"{camera}: {box} at {inside[0]:.2f} inside {other}'s run {start:.2f}..{end:.2f}")
    return found


def first_after(records: dict[str, dict[str, list[float]]], camera: str, at: float, boxes: set[str]) -> float | None:
    """The first capture time of `camera` after `at` on one of `boxes`."""
    times = [t for box in boxes for t in records.get(camera, {}).get(box, []) if t > at]
    return min(times) if times else None


def gaps(records: dict[str, dict[str, list[float]]], camera: str, after: float, before: float = float("inf")) -> float:
    """The longest time without a record of `camera` (any box) between `after` and `before`."""
    times = sorted(t for box_times in records.get(camera, {}).values() for t in box_times if after < t < before)
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)
