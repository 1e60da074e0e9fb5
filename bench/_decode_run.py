"""The moving parts of bench/decode.py: the RTSP cameras (tests/support/rtsp_server.py processes,
each serving a share of the cameras' main and sub streams on looping mounts), one `vigil run`
process per measured mode, and the CPU and frame counters read over a window after warm-up.

CPU is read from /proc/PID/stat (utime + stime, every thread of the process) at the start and
the end of the window; frames from vigil's /metrics at the same moments.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _soak_probe import Metrics

ROOT = Path(__file__).resolve().parents[1]
RTSP_SERVER = ROOT / "tests" / "support" / "rtsp_server.py"
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid` (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of proc(5), counted after the name


class Cameras:
    """`len(clips)` cameras, camera i's (main, sub) files served at /camII-main and /camII-sub by
    `processes` RTSP server processes (camera i by process i % processes)."""

    def __init__(self, clips: Sequence[tuple[Path, Path]], processes: int) -> None:
        self.clips = list(clips)
        self.ports = [free_port() for _ in range(max(1, min(processes, len(self.clips))))]
        self.procs: list[subprocess.Popen[str]] = []

    def main_url(self, camera: int) -> str:
        return f"rtsp://127.0.0.1:{self.ports[camera % len(self.ports)]}/cam{camera:02d}-main"

    def sub_url(self, camera: int) -> str:
        return f"rtsp://127.0.0.1:{self.ports[camera % len(self.ports)]}/cam{camera:02d}-sub"

    def start(self, timeout: float = 60.0) -> None:
        for k, port in enumerate(self.ports):
            mounts: list[str] = []
            for i in range(k, len(self.clips), len(self.ports)):
                main, sub = self.clips[i]
                mounts += ["--mount", f"cam{i:02d}-main={main}", "--mount", f"cam{i:02d}-sub={sub}"]
            proc = subprocess.Popen(
                ["/usr/bin/python3", str(RTSP_SERVER), str(port), *mounts],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.procs.append(proc)
            line = _readline(proc, timeout)
            if line.strip() != "ready":
                self.stop()
                raise RuntimeError(f"the RTSP server on port {port} did not start (said {line!r})")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        self.procs = []


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        return proc.stdout.readline() if sel.select(timeout) else ""


@dataclass
class Window:
    """What one measured window saw."""

    wall_s: float
    vigil_cpu_s: float
    server_cpu_s: float
    frames: dict[str, float] = field(default_factory=dict)  # counter name -> increase over the window
    per_camera: dict[str, dict[str, float]] = field(default_factory=dict)  # camera -> {in, decoded, seen}
    streams: dict[str, Any] = field(default_factory=dict)  # /api/v1/streams at the end, by name


class Vigil:
    """One `vigil run` process with `config` (a dict, written as JSON) in `work`."""

    def __init__(self, config: dict[str, Any], work: Path, token: str, api_port: int) -> None:
        self.config, self.work, self.token = config, work, token
        self.base = f"http://127.0.0.1:{api_port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = work / "vigil.log"

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=20) as answer:
            body = answer.read().decode()
            return json.loads(body) if "json" in answer.headers.get("Content-Type", "") else body

    def start(self, cameras: int, timeout: float) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        path = self.work / "vigil.yaml"
        path.write_text(json.dumps(self.config, indent=1))  # JSON is YAML
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vigil", "run", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.work,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vigil exited with {self.proc.returncode} at start: {self.log_tail()}")
            try:
                streams = self.streams()
                if len(streams) >= cameras and all(s.get("state") == "streaming" for s in streams.values()):
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the cameras were not all streaming within {timeout:.0f} s: {self.log_tail()}")

    def streams(self) -> dict[str, Any]:
        return {s["name"]: s for s in self.get("/api/v1/streams")["streams"]}

    def measure(self, server_pids: Sequence[int], seconds: float) -> Window:
        assert self.proc is not None
        before, t0 = self._sample(server_pids)
        time.sleep(seconds)
        after, t1 = self._sample(server_pids)
        if self.proc.poll() is not None:
            raise RuntimeError(f"vigil exited with {self.proc.returncode} during the window: {self.log_tail()}")
        window = Window(t1 - t0, after["vigil"] - before["vigil"], after["server"] - before["server"])
        for name in ("frames_in", "frames_inferred", "decoded", "seen"):
            window.frames[name] = after["totals"][name] - before["totals"][name]
        for camera, row in after["cameras"].items():
            start = before["cameras"].get(camera, {})
            window.per_camera[camera] = {k: v - start.get(k, 0.0) for k, v in row.items()}
        window.streams = self.streams()
        return window

    def _sample(self, server_pids: Sequence[int]) -> tuple[dict[str, Any], float]:
        assert self.proc is not None
        metrics = Metrics.parse(self.get("/metrics"))
        now = time.monotonic()
        vigil = cpu_seconds(self.proc.pid)
        server = sum(cpu_seconds(pid) for pid in server_pids)
        frames_in = metrics.by("vigil_frames_in_total", "source")
        dropped = metrics.by("vigil_source_frames_dropped_total", "source")
        skipped = metrics.by("vigil_source_frames_skipped_total", "source")
        cameras: dict[str, dict[str, float]] = {}
        for (camera,), n in frames_in.items():
            decoded = n + dropped.get((camera,), 0.0)  # decoded: handed on, or lost to sampling / a full queue
            cameras[camera] = {"in": n, "decoded": decoded, "seen": decoded + skipped.get((camera,), 0.0)}
        totals = {
            "frames_in": sum(frames_in.values()),
            "frames_inferred": metrics.total("vigil_frames_inferred_total"),
            "decoded": sum(c["decoded"] for c in cameras.values()),
            "seen": sum(c["seen"] for c in cameras.values()),
        }
        return {"vigil": vigil, "server": server, "totals": totals, "cameras": cameras}, now

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(line.strip()[:300] for line in text[-lines:])

    def stop(self) -> int | None:
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
