"""The faults of the soak (bench/soak.py), each a loop of its own at random times until the chaos
phase ends; every fault is cleared in a `finally`, so nothing stays broken when the phase ends,
fails or is cancelled. Also the watcher that times how long each camera takes to stream again
after its server came back."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from _soak_probe import Api

if TYPE_CHECKING:
    from soak import Soak

MAX_FAULTS = 1000  # per kind: every loop is bounded in count as well as in time


@dataclass
class Restart:
    camera: str
    up_at: float  # monotonic: when its server listened again
    back_after_s: float | None = None


@dataclass
class Log:
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)


class Chaos:
    def __init__(self, soak: Soak, api: Api, rng: random.Random, *, calm: bool, only: tuple[str, ...] = ()) -> None:
        self.soak, self.api, self.rng, self.calm, self.only = soak, api, rng, calm, only
        self.log = Log()
        self.restarts: list[Restart] = []
        self.api_streams: list[str] = []  # added over the API and not deleted yet
        self.api_results: dict[str, int] = {}  # "POST 201", "DELETE 200", ...
        self.last_fault_end = 0.0

    def note(self, what: str) -> None:
        self.log.counts[what] = self.log.counts.get(what, 0) + 1
        self.log.timeline.append((round(time.monotonic() - self.soak.t0, 1), what))

    async def run(self, until: float) -> None:
        if self.calm:
            return
        loops = [
            (self.kill_camera, (15, 45), (2, 10)),
            (self.webhook_fault, (20, 60), (5, 25)),
            (self.restart_mosquitto, (40, 120), (2, 8)),
            (self.restart_nats_node, (40, 120), (3, 12)),
            (self.fill_disk, (60, 180), (8, 25)),
            (self.reload, (40, 120), (0, 0)),
            (self.add_and_delete_stream, (20, 50), (10, 40)),
        ]
        if self.only:  # a subset of the faults, by function name (to find which one costs memory)
            loops = [loop for loop in loops if loop[0].__name__ in self.only]
        tasks = [asyncio.create_task(self._loop(f, gap, dur, until)) for f, gap, dur in loops]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.last_fault_end = time.monotonic()

    async def _loop(self, fault: Any, gap: tuple[float, float], duration: tuple[float, float], until: float) -> None:
        first = True
        for _ in range(MAX_FAULTS):
            wait = self.rng.uniform(3, 15) if first else self.rng.uniform(*gap)
            first = False
            if time.monotonic() + wait + duration[0] + 1 >= until:
                return
            await asyncio.sleep(wait)
            hold = min(self.rng.uniform(*duration), max(0.0, until - time.monotonic() - 1))
            try:
                await fault(hold)
            except Exception as exc:  # noqa: BLE001  (the soak goes on; the report lists it)
                self.log.errors.append(f"{fault.__name__}: {exc!r}"[:300])

    # The faults

    async def kill_camera(self, hold: float) -> None:
        index = self.rng.randrange(len(self.soak.cameras))
        cam = self.soak.cameras[index]
        cam.kill()
        self.note("camera server killed")
        try:
            await asyncio.sleep(hold)
        finally:
            await asyncio.to_thread(cam.start)
            self.restarts.append(Restart(f"cam{index}", time.monotonic()))

    async def webhook_fault(self, hold: float) -> None:
        hook = self.soak.hook
        down = self.rng.random() < 0.5
        if down:
            await hook.go_down()
        else:
            hook.mode = "5xx"
        self.note("webhook down" if down else "webhook 503")
        try:
            await asyncio.sleep(hold)
        finally:
            if down:
                await hook.start()
            hook.mode = "up"

    async def restart_mosquitto(self, hold: float) -> None:
        broker = self.soak.broker
        await asyncio.to_thread(broker.stop)  # SIGTERM: it saves its sessions (persistence)
        self.note("mosquitto restarted")
        try:
            await asyncio.sleep(hold)
        finally:
            await asyncio.to_thread(broker.start)

    async def restart_nats_node(self, hold: float) -> None:
        node = self.rng.choice(self.soak.nats.nodes)
        await asyncio.to_thread(node.kill)
        self.note("NATS node killed")
        try:
            await asyncio.sleep(hold)
        finally:
            await asyncio.to_thread(node.start)

    async def fill_disk(self, hold: float) -> None:
        try:
            written = await asyncio.to_thread(self.soak.tmpfs.fill)
            self.note("disk filled")
            self.log.timeline.append((round(time.monotonic() - self.soak.t0, 1), f"ballast {written >> 20} MiB"))
            await asyncio.sleep(hold)
        finally:
            await asyncio.to_thread(self.soak.tmpfs.free)

    async def reload(self, hold: float) -> None:
        soak = self.soak
        soak.reload_flip = not soak.reload_flip
        soak.write_config()
        assert soak.proc is not None
        await soak.scrape_counters(self.api)  # the replaced sink's counters start again at 0
        soak.proc.send_signal(signal.SIGHUP)
        self.note("SIGHUP reload")

    async def add_and_delete_stream(self, hold: float) -> None:
        soak = self.soak
        name = f"api{self.log.counts.get('stream added over the API', 0)}"
        body = soak.camera(name, soak.extra.url, clips=False)
        try:
            status, text = await self.api.add_stream(body)
        except (asyncio.TimeoutError, OSError) as exc:
            self._count("POST", 0)
            raise RuntimeError(f"POST /api/v1/streams ({name}) got no answer: {exc!r}") from exc
        self._count("POST", status)
        if status != 201:
            raise RuntimeError(f"POST /api/v1/streams answered {status}: {text[:200]}")
        self.api_streams.append(name)
        self.note("stream added over the API")
        try:
            await asyncio.sleep(hold)
        finally:
            try:
                status, text = await self.api.delete_stream(name)
            except (asyncio.TimeoutError, OSError) as exc:
                self._count("DELETE", 0)
                raise RuntimeError(f"DELETE /api/v1/streams/{name} got no answer: {exc!r}") from exc
            self._count("DELETE", status)
            if status == 200:
                self.api_streams.remove(name)
                self.note("stream deleted over the API")

    def _count(self, method: str, status: int) -> None:
        key = f"{method} {status}"
        self.api_results[key] = self.api_results.get(key, 0) + 1

    # Watching the cameras

    async def watch_cameras(self, until: float) -> None:
        """Each second: a camera whose server came back is timed until the API says it streams."""
        while time.monotonic() < until:
            await asyncio.sleep(1.0)
            pending = [r for r in self.restarts if r.back_after_s is None]
            if not pending:
                continue
            with contextlib.suppress(Exception):
                streams = await self.api.streams()
                now = time.monotonic()
                for r in pending:
                    if streams.get(r.camera, {}).get("state") == "streaming":
                        r.back_after_s = round(now - r.up_at, 1)
