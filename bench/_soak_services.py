"""The servers the soak (bench/soak.py) starts, all on loopback, and tears down again: RTSP
cameras (Debian's GStreamer RTSP server, tests/support/rtsp_server.py), a webhook receiver and an
MQTT subscriber (in the soak's own event loop), mosquitto with persistence (so a restart keeps
the subscriber's session), a 3-node NATS cluster, a tmpfs for the outputs, and the clip the
cameras serve: a face crossing a line and entering a zone, again and again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.mosquitto import Mosquitto, free_port  # noqa: E402
from tests.support.scripted_clip import Actor, Scene, render  # noqa: E402

RTSP_SERVER = ROOT / "tests" / "support" / "rtsp_server.py"
PERIOD_S = 10.0
# The face's crop corner goes right along the top third, then waits in the zone; hidden for the
# last 3 s of each period (longer than lost_s: its object ends, the next period's is new).
# The detected box's bottom centre is about (x + 104, y + 168): it crosses x = LINE_X at ~1.3 s
# and is inside the zone (x >= ZONE_X) from ~3.3 s to 7 s.
FACE = Actor("face", path=((0, 10, 100), (4, 400, 100)), shown=((0, 7),))
LINE_X, ZONE_X = 240, 440


def make_clip(path: Path, seconds: float) -> Path:
    """One period rendered (tests/support/scripted_clip.py), then remuxed end to end (no
    re-encoding) until the clip lasts `seconds`."""
    period = render(Scene((FACE,), duration_s=PERIOD_S), path.with_suffix(".period.mp4"))
    repeats = max(1, int(seconds // PERIOD_S) + 1)
    with av.open(str(period)) as src, av.open(str(path), "w") as dst:
        packets = [p for p in src.demux(src.streams.video[0]) if p.size]
        stream_in = src.streams.video[0]
        out = dst.add_stream_from_template(stream_in)
        step = round(PERIOD_S / stream_in.time_base)
        for k in range(repeats):
            for p in packets:
                p.pts, p.dts = p.pts + (step if k else 0), p.dts + (step if k else 0)
                p.stream = out
                dst.mux(p)
    period.unlink()
    return path


class Rtsp:
    """One RTSP server process serving `clip` at rtsp://127.0.0.1:PORT/file, always on the same port."""

    def __init__(self, clip: Path) -> None:
        self.clip, self.port = clip, free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/file"

    def start(self, timeout: float = 20.0) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(RTSP_SERVER), str(self.port), "--file", str(self.clip)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = _readline(self.proc, timeout)
        if line.strip() != "ready":
            self.kill()
            raise RuntimeError(f"RTSP server on port {self.port} did not start (said {line!r})")

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        return proc.stdout.readline() if sel.select(timeout) else ""


class PersistentMosquitto(Mosquitto):
    """tests/support/mosquitto.py's broker, with persistence: restarted with SIGTERM, it keeps the
    subscriber's session and its queued QoS 1 messages (what a broker loses is not vigil's loss)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        text = self.config.read_text().replace("persistence false", "persistence true")
        self.config.write_text(text + f"persistence_location {directory}/\nautosave_interval 1\nmax_queued_messages 0\n")


class WebhookReceiver:
    """aiohttp on loopback: collects the ids of `results[]` and `events[]`; `mode` is "up", "5xx" (answers 503) or
    "down" (the site is stopped: connections are refused)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.ids: set[str] = set()
        self.requests = self.refused = 0
        self.mode = "up"
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.mode == "5xx":
            self.refused += 1
            return web.Response(status=503, text="soak: receiver failing on purpose")
        body = json.loads(await request.read())
        self.ids.update(r["id"] for r in [*body.get("results", []), *body.get("events", [])])
        return web.Response(status=204)

    async def start(self) -> None:
        if self._runner is None:
            app = web.Application()
            app.router.add_post("/hook", self._hook)
            self._runner = web.AppRunner(app, shutdown_timeout=1.0)
            await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        self.mode = "up"

    async def go_down(self) -> None:
        self.mode = "down"
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = self._site = None


_QUIET = logging.getLogger("soak.mqtt-subscriber")  # a broker restarted on purpose is no error to print
_QUIET.setLevel(logging.CRITICAL)


class MqttSubscriber:
    """A persistent-session QoS 1 subscriber to `vigil/+/events` that reconnects on its own
    (bounded waits; it ends when `stop` is set); collects the events' ids."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ids: set[str] = set()
        self.connected = asyncio.Event()
        self.stop = asyncio.Event()
        self.reconnects = 0

    async def run(self) -> None:
        import aiomqtt

        while not self.stop.is_set():
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    identifier="soak-subscriber",
                    clean_session=False,
                    protocol=aiomqtt.ProtocolVersion.V311,
                    timeout=5,
                    logger=_QUIET,
                ) as client:
                    await client.subscribe("vigil/+/events", qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        self.ids.add(json.loads(bytes(message.payload))["id"])  # type: ignore[arg-type]
            except aiomqtt.MqttError:
                self.connected.clear()
                self.reconnects += 1
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 0.5)


class Tmpfs:
    """A tmpfs of `size_mb` MiB mounted on a fresh directory (root only); `fill()` writes a ballast
    file until the disk is full, `free()` deletes it; `close()` unmounts."""

    def __init__(self, size_mb: int) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="vigil-soak-out-"))
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(self.path)], check=True, capture_output=True
        )
        self.ballast = self.path / "ballast.bin"

    def fill(self, max_s: float = 30.0) -> int:
        """Write until ENOSPC (bounded in time); the bytes written."""
        written, chunk, deadline = 0, b"\0" * (1 << 20), time.monotonic() + max_s
        with open(self.ballast, "ab", buffering=0) as f:  # unbuffered: no write is left for close()
            while time.monotonic() < deadline:
                try:
                    written += f.write(chunk) or 0
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        break
                    chunk = chunk[: len(chunk) // 16 or 1]
        return written

    def free(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.ballast.unlink()

    def usage(self) -> dict[str, int]:
        st = os.statvfs(self.path)
        return {"size": st.f_blocks * st.f_frsize, "free": st.f_bavail * st.f_frsize}

    def close(self) -> None:
        if subprocess.run(["umount", str(self.path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        with contextlib.suppress(OSError):
            self.path.rmdir()


def jsonl_ids(path: Path, about: dict[str, str] | None = None) -> tuple[list[str], dict[str, int]]:
    """The ids of the events in a JSONL file (in order, repeats kept) and their count by type;
    `about` gets "source type capture_time" of each id."""
    ids: list[str] = []
    types: dict[str, int] = {}
    about = {} if about is None else about
    if not path.exists():
        return ids, types
    with open(path, "rb") as f:
        for line in f:
            with contextlib.suppress(ValueError):
                record: dict[str, Any] = json.loads(line)
                if record.get("record") == "event":
                    ids.append(record["id"])
                    about[record["id"]] = f"{record['source']} {record['type']} {record['capture_time']}"
                    types[record["type"]] = types.get(record["type"], 0) + 1
    return ids, types


def clip_for(seconds: float, directory: Path) -> Path:
    return make_clip(directory / "face.mp4", seconds)


__all__ = [
    "FACE",
    "LINE_X",
    "ZONE_X",
    "MqttSubscriber",
    "PersistentMosquitto",
    "Rtsp",
    "Tmpfs",
    "WebhookReceiver",
    "clip_for",
    "jsonl_ids",
    "make_clip",
]
