"""The fleet in the management API against a real nats-server: a fleet box's POST, PUT and
DELETE of streams write the fleet's bucket (its own YAML cameras stay local), `GET
/api/v1/fleet` answers as the OpenAPI document says, a box without `fleet:` says it has none,
NATS down is a 503 naming the servers, and no camera password appears in any answer. Then a real
daemon with `fleet:`: its agent takes a camera of the bucket, and the API and /metrics show it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from tests.conftest import encode_clip, photo
from tests.support.nats_server import NatsServer, wait_for_jetstream
from tests.unit.api.control_doubles import NothingRunning
from vigil.api.app import make_app
from vigil.api.fleet import FleetApi
from vigil.api.fleet_models import FleetPlaced, FleetView
from vigil.api.openapi import openapi_document
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.config.fleet import FleetConfig
from vigil.daemon.service import Daemon
from vigil.fleet.store import FleetStore

WRITE = {"X-Vigil-Console": "1"}
SECRET = "camPW77"
YARD = {"name": "yard", "url": f"rtsp://viewer:{SECRET}@127.0.0.1:9/yard", "max_fps": 5}


@pytest.fixture
def server(tmp_path: Path):
    node = NatsServer(tmp_path / "nats").start()
    asyncio.run(wait_for_jetstream([node.url]))
    yield node
    node.stop()


def fleet_config(url: str, **extra: Any) -> FleetConfig:
    return FleetConfig.model_validate({"servers": [url], "box": "box-a", **extra})


class Client:
    """Requests to the app, each answer checked against the OpenAPI document and for the secret."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base
        self.api = OpenAPI.from_dict(openapi_document())

    async def __call__(self, method: str, path: str, status: int, **body: Any) -> Any:
        async with self.http.request(method, self.base + path, headers=WRITE if method != "GET" else {}, **body) as answer:
            data = await answer.read()
            assert answer.status == status, f"{method} {path}: {answer.status} {data[:300]!r}"
            content_type = answer.content_type
        assert SECRET.encode() not in data
        self.api.validate_response(
            MockRequest(self.base, method.lower(), path), MockResponse(data, status_code=status, content_type=content_type)
        )
        return json.loads(data)


async def serving(app: aiohttp.web.Application) -> AsyncIterator[Client]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Client(http, str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} not within {timeout:g} s"
        await asyncio.sleep(0.2)


async def test_a_fleet_boxs_stream_writes_edit_the_bucket(server: NatsServer) -> None:
    store = await FleetStore.connect(fleet_config(server.url))
    fleet = FleetApi(lambda: store, "box-a", {"door"}.__contains__, [server.url])
    try:
        async for call in serving(make_app(NothingRunning(), fleet=fleet)):

            async def box_b_takes_it() -> None:
                await asyncio.sleep(0.5)
                assert await store.take("yard", "box-b") is not None

            taking = asyncio.create_task(box_b_takes_it())
            placed = FleetPlaced.model_validate(await call("POST", "/api/v1/streams", 201, json=YARD))
            await taking
            assert (placed.name, placed.fleet, placed.change, placed.box) == ("yard", True, "added", "box-b")
            assert (await store.cameras())["yard"] == {"kind": "rtsp", "url": YARD["url"], "max_fps": 5.0}
            assert "PUT /api/v1/streams/yard" in (await call("POST", "/api/v1/streams", 409, json=YARD))["error"]

            changed = await call("PUT", "/api/v1/streams/yard", 200, json={**YARD, "max_fps": 2})
            assert (changed["change"], changed["box"]) == ("changed", "box-b")
            assert (await call("PUT", "/api/v1/streams/yard", 200, json={**YARD, "max_fps": 2}))["change"] == "unchanged"
            assert (await store.cameras())["yard"]["max_fps"] == 2.0
            assert "own sources" in (await call("PUT", "/api/v1/streams/door", 409, json={"url": "rtsp://127.0.0.1/d"}))["error"]
            assert "give one name" in (await call("PUT", "/api/v1/streams/yard", 422, json={**YARD, "name": "other"}))["error"]
            refused = await call(
                "POST", "/api/v1/streams", 422, json={"name": "gate", "url": "rtsp://h/x", "password_file": "/etc/x"}
            )
            assert "never reads files" in refused["error"]

            view = FleetView.model_validate(await call("GET", "/api/v1/fleet", 200))
            assert view.box == "box-a"
            assert [(c.name, c.box, c.url) for c in view.cameras] == [("yard", "box-b", "rtsp://viewer:***@127.0.0.1:9/yard")]
            assert [(b.box, b.alive, b.cameras) for b in view.boxes] == [("box-b", False, ["yard"])]  # a lease, no heartbeat
            assert view.unassigned == []

            assert await call("DELETE", "/api/v1/streams/yard", 200) == {"removed": "yard"}
            assert await store.cameras() == {}
            await call("DELETE", "/api/v1/streams/yard", 404)  # neither in the bucket nor running here
    finally:
        await store.close()


async def test_a_box_without_fleet_says_so_and_nats_down_is_a_503(server: NatsServer) -> None:
    async for call in serving(make_app(NothingRunning())):
        assert "no fleet: section" in (await call("GET", "/api/v1/fleet", 404))["error"]
        assert "no fleet: section" in (await call("PUT", "/api/v1/streams/yard", 404, json=YARD))["error"]
        local = {**YARD, "url": "rtsp://127.0.0.1:9/yard"}  # the double does not mask as the daemon does
        assert (await call("POST", "/api/v1/streams", 201, json=local))["origin"] == "api"  # local, as before

    not_yet = FleetApi(lambda: None, "box-a", set().__contains__, [server.url])
    async for call in serving(make_app(NothingRunning(), fleet=not_yet)):
        assert server.url in (await call("GET", "/api/v1/fleet", 503))["error"]

    store = await FleetStore.connect(fleet_config(server.url))
    fleet = FleetApi(lambda: store, "box-a", set().__contains__, [server.url])
    try:
        async for call in serving(make_app(NothingRunning(), fleet=fleet)):
            server.stop()
            down = await call("GET", "/api/v1/fleet", 503)
            assert f"NATS servers ({server.url}) did not answer" in down["error"]
            assert server.url in (await call("POST", "/api/v1/streams", 503, json=YARD))["error"]
    finally:
        await store.close()


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_clip(tmp_path_factory.mktemp("cam") / "cam.mp4", photo("astronaut"), frames=20, size=(320, 240), fps=10)


async def test_a_daemon_with_fleet_shows_its_camera_in_the_api_and_metrics(
    tmp_path: Path, server: NatsServer, nudenet_path: Path, camera_clip: Path
) -> None:
    admin = await FleetStore.connect(fleet_config(server.url, box="admin"))
    await admin.put_camera("porch", {"url": str(camera_clip), "loop": True, "realtime": True, "max_fps": 5})
    config = DaemonConfig.model_validate(
        {
            "model": {"path": str(nudenet_path), "image_size": 320},
            "sinks": [{"kind": "jsonl", "path": str(tmp_path / "out.jsonl")}],
            "fleet": {"servers": [server.url], "box": "box-a", "capacity": {"cameras": 4}},
        }
    )
    daemon = Daemon(config, ApiConfig(port=0))
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.wait_ready(), 120)
        async with aiohttp.ClientSession() as http:
            call = Client(http, f"http://127.0.0.1:{daemon.api_port}")

            async def porch_runs_here() -> Any:
                async with http.get(f"{call.base}/api/v1/fleet") as answer:
                    if answer.status == 503:  # the agent has not connected yet
                        return None
                view = await call("GET", "/api/v1/fleet", 200)
                return view if view["cameras"] and view["cameras"][0]["box"] == "box-a" else None

            view = FleetView.model_validate(await until(porch_runs_here, "porch taken by box-a"))
            assert [(b.box, b.alive, b.capacity.cameras, b.cameras) for b in view.boxes] == [("box-a", True, 4, ["porch"])]
            assert any(m.camera == "porch" and m.to == "box-a" for m in view.moves)

            async def metrics() -> str:
                async with http.get(f"{call.base}/metrics") as answer:
                    text = await answer.text()
                return text if "vigil_fleet_cameras_held 1.0" in text else ""

            text = await until(metrics, "the fleet's metrics")
            assert "vigil_fleet_members_alive 1.0" in text
            assert "vigil_fleet_cameras_unassigned 0.0" in text
            assert 'vigil_fleet_moves_total{reason="' in text
            assert "vigil_fleet_connected 1.0" in text
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 60)
        await admin.close()
