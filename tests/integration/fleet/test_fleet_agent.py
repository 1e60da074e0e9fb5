"""FleetAgent against a real nats-server, with a recording stand-in for the daemon's streams:
cameras spread evenly, a stalled renewal stops the camera before its lease expires, a box
leaving hands its cameras over at once, a camera deleted from the bucket stops, and no camera
ever runs on two boxes at once."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.nats_server import NatsServer, wait_for_jetstream
from vigil.config import SourceConfig
from vigil.config.fleet import FleetConfig
from vigil.fleet.agent import FleetAgent
from vigil.fleet.store import FleetStore
from vigil.fleet.warm import Warmth

pytestmark = pytest.mark.serial

CAMERA_ENTRY = {"url": "rtsp://127.0.0.1:1/cam", "max_fps": 5}


class Streams:
    """The boxes' running cameras, shared: a camera started while another box runs it is a double run."""

    def __init__(self) -> None:
        self.running: dict[str, str] = {}  # camera -> box
        self.double: list[str] = []
        self.stopped_at: dict[str, float] = {}
        self.started_at: dict[str, float] = {}

    def box(self, name: str) -> BoxStreams:
        return BoxStreams(self, name)


class BoxStreams:
    def __init__(self, shared: Streams, box: str) -> None:
        self.shared, self.box = shared, box

    # The fleet's StreamControl, not the API's Control (tests/unit/api/test_control_answers.py
    # holds the doubles of that one, found by their method definitions): bound by assignment below.
    async def _add(self, config: SourceConfig, *, tell: bool = True) -> object:
        if config.name in self.shared.running:
            self.shared.double.append(f"{config.name} on {self.box} and {self.shared.running[config.name]}")
        self.shared.running[config.name] = self.box
        self.shared.started_at[config.name] = time.monotonic()
        return None

    async def _remove(self, name: str, *, tell: bool = True) -> None:
        if self.shared.running.get(name) == self.box:
            del self.shared.running[name]
            self.shared.stopped_at[name] = time.monotonic()

    add_stream, remove_stream = _add, _remove

    def mine(self) -> set[str]:
        return {camera for camera, box in self.shared.running.items() if box == self.box}


@pytest.fixture
def server(tmp_path: Path):
    node = NatsServer(tmp_path / "nats").start()
    asyncio.run(wait_for_jetstream([node.url]))
    yield node
    node.stop()


def config(url: str, box: str, **extra: Any) -> FleetConfig:
    return FleetConfig.model_validate({"servers": [url], "box": box, "lease_ttl_s": 3, "member_ttl_s": 3, **extra})


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def fill(url: str, count: int) -> FleetStore:
    store = await FleetStore.connect(config(url, "admin"))
    for i in range(count):
        await store.put_camera(f"cam{i}", {"url": f"rtsp://127.0.0.1:1/cam{i}", "max_fps": 5})
    return store


def loads(streams: Streams, boxes: list[str]) -> list[int]:
    return sorted(list(streams.running.values()).count(box) for box in boxes)


async def test_three_boxes_share_six_cameras_and_one_leaving_hands_over(server: NatsServer) -> None:
    admin = await fill(server.url, 6)
    streams = Streams()
    agents = {b: FleetAgent(config(server.url, b), streams.box(b)) for b in ("a", "b", "c")}
    try:
        for agent in agents.values():
            agent.start()
        await until(lambda: loads(streams, ["a", "b", "c"]) == [2, 2, 2])
        before = dict(streams.running)
        leaving = [c for c, b in before.items() if b == "a"]
        await agents["a"].leave()
        left_at = time.monotonic()
        await until(lambda: loads(streams, ["b", "c"]) == [3, 3], timeout=20)
        # handed over, not left to expire: the others run them well before the lease TTL
        assert max(streams.stopped_at[c] for c in leaving) <= left_at
        assert time.monotonic() - left_at < 3.0 + 2.0  # generous on a loaded machine
        moves = await admin.moves()
        assert {m.camera for m in moves if m.reason == "sigterm"} == set(leaving)
        assert streams.double == []
        assert agents["b"].stats().members_alive == 2
    finally:
        for agent in agents.values():
            await agent.leave()
        await admin.close()


async def test_a_stalled_renewal_stops_the_camera_before_the_lease_expires(server: NatsServer) -> None:
    admin = await fill(server.url, 2)
    streams = Streams()
    a = FleetAgent(config(server.url, "a"), streams.box("a"))
    b = FleetAgent(config(server.url, "b", capacity={"cameras": 0}), streams.box("b"))  # takes nothing while a lives
    try:
        a.start()
        b.start()
        await until(lambda: len(streams.box("a").mine()) == 2)
        assert a.store is not None

        async def stalled(*_: object, **__: object) -> None:
            await asyncio.sleep(3600)

        for call in ("renew", "heartbeat", "take", "adopt", "release", "cameras", "members", "leases", "record_move"):
            setattr(a.store, call, stalled)  # NATS stops answering a
        await until(lambda: not streams.box("a").mine(), timeout=20)
        stopped_at = time.monotonic()
        assert a.stats().leases_lost == 2
        assert {lease.box for lease in (await admin.leases()).values()} == {"a"}  # a stopped first: its leases still stand
        await b.close()
        b = FleetAgent(config(server.url, "b"), streams.box("b"))  # b now takes them: once the leases expired
        b.start()
        await until(lambda: len(streams.box("b").mine()) == 2, timeout=30)
        assert min(streams.started_at[c] for c in ("cam0", "cam1")) > stopped_at
        assert streams.double == []
    finally:
        await a.close()
        await b.close()
        await admin.close()


async def test_cameras_deleted_or_changed_in_the_bucket(server: NatsServer) -> None:
    admin = await fill(server.url, 2)
    streams = Streams()
    a = FleetAgent(config(server.url, "a"), streams.box("a"))
    try:
        a.start()
        await until(lambda: len(streams.box("a").mine()) == 2)
        await admin.delete_camera("cam0")
        await until(lambda: streams.box("a").mine() == {"cam1"}, timeout=10)
        await admin.put_camera("cam1", {"url": "rtsp://127.0.0.1:1/other", "max_fps": 2})
        await until(lambda: a.held["cam1"].entry["max_fps"] == 2, timeout=10)
        assert streams.running == {"cam1": "a"}
        assert "cam0" not in await admin.leases()
    finally:
        await a.leave()
        await admin.close()


async def test_a_boxs_own_sources_keep_their_names(server: NatsServer) -> None:
    admin = await fill(server.url, 2)
    streams = Streams()
    a = FleetAgent(config(server.url, "a"), streams.box("a"), local=lambda: {"cam0"})
    try:
        a.start()
        await until(lambda: streams.box("a").mine() == {"cam1"})
        await asyncio.sleep(1.5)  # a few rounds: cam0 stays the YAML's
        assert streams.box("a").mine() == {"cam1"} and "cam0" not in await admin.leases()
        assert a.stats().unassigned == 1
    finally:
        await a.leave()
        await admin.close()


async def test_a_change_in_a_bucket_wakes_the_watch(server: NatsServer) -> None:
    from vigil.fleet.watch import watch_buckets

    store = await FleetStore.connect(config(server.url, "a"))
    wake = asyncio.Event()
    task = asyncio.create_task(watch_buckets(store, wake))
    try:
        for step in range(3):
            await asyncio.sleep(0.5)  # the watches are made (their first marker may wake it too)
            wake.clear()
            await store.put_camera(f"cam{step}", CAMERA_ENTRY)
            await asyncio.wait_for(wake.wait(), 10)
        wake.clear()
        assert await store.take("cam0", "a") is not None  # a lease too
        await asyncio.wait_for(wake.wait(), 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.close()


async def test_a_box_leaving_frees_each_camera_as_soon_as_it_stops(server: NatsServer) -> None:
    # A leaving box deletes a camera's lease the moment that camera stops, not after all of its
    # cameras stopped: the others take the first while the second is still stopping.
    slow = {"lease_ttl_s": 30, "member_ttl_s": 30}  # the buckets made with 30 s entries: no lease expires meanwhile
    admin = await FleetStore.connect(config(server.url, "admin", **slow))
    for camera in ("cam0", "cam1"):
        await admin.put_camera(camera, CAMERA_ENTRY)
    streams = Streams()
    box = streams.box("a")
    order: list[str] = []
    free_before_next: list[bool] = []

    async def remove(name: str, *, tell: bool = True) -> None:
        if order:  # the first camera's lease gone before the second stops?
            deadline = time.monotonic() + 10
            while order[0] in await admin.leases() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            free_before_next.append(order[0] not in await admin.leases())
        order.append(name)
        await BoxStreams._remove(box, name, tell=tell)

    box.remove_stream = remove  # type: ignore[method-assign]
    a = FleetAgent(config(server.url, "a", **slow), box)
    try:
        a.start()
        await until(lambda: len(box.mine()) == 2)
        await a.leave(timeout=30)
        assert len(order) == 2 and free_before_next == [True], (order, free_before_next)
        assert box.mine() == set() and await admin.leases() == {}
    finally:
        await a.close()
        await admin.close()


async def test_a_box_joins_only_once_warm(server: NatsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its cameras' libraries imported off the event loop before it heartbeats: nobody hands it a
    # camera to start cold meanwhile.
    admin = await fill(server.url, 1)
    warm = threading.Event()
    asked: list[Warmth] = []

    def slow_warm_up(warmth: Warmth) -> list[str]:
        asked.append(warmth)
        warm.wait(30)
        return []

    monkeypatch.setattr("vigil.fleet.agent.warm_up", slow_warm_up)
    streams = Streams()
    a = FleetAgent(config(server.url, "a"), streams.box("a"))
    try:
        a.start()
        await until(lambda: bool(asked))
        await asyncio.sleep(1.0)
        assert await admin.members() == {} and streams.running == {}
        warm.set()
        await until(lambda: streams.box("a").mine() == {"cam0"})
        assert "a" in await admin.members()
        assert asked == [Warmth(("av",), probe=True)]
    finally:
        warm.set()
        await a.leave()
        await admin.close()
