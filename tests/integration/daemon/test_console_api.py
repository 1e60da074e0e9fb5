"""The API the web console stands on, against the daemon in-process with its real aiohttp server,
the real YOLOv8n and a real looping camera clip: signing in with the token (an HttpOnly cookie,
CSRF-safe writes), the pages at `/`, a camera's zones read and replaced while it runs (the new
zone makes events at once, and outlives a restart), the effective configuration with its
secrets masked, and the streams' console figures."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import encode_clip, photo
from vigil.api.state import StreamLayer
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.daemon.service import Daemon

TOKEN = "console-token-for-tests-0123"
FACE_ZONE = [[100, 20], [300, 20], [300, 200], [100, 200]]  # the astronaut's face, in 320x240 pixels
EMPTY_ZONE = [[0, 200], [40, 200], [40, 239], [0, 239]]  # a corner no face reaches


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory):
    return encode_clip(tmp_path_factory.mktemp("cam") / "cam.mp4", photo("astronaut"), frames=30, size=(320, 240), fps=10)


def daemon_config(tmp_path: Path, nudenet_path: Path, clip: Path) -> DaemonConfig:
    return DaemonConfig.model_validate(
        {
            "model": {"path": str(nudenet_path), "image_size": 320},
            "sources": [
                {
                    "name": "door",
                    "url": str(clip),
                    "realtime": True,
                    "loop": True,
                    "zones": [{"name": "corner", "polygon": EMPTY_ZONE}],
                },
                {"name": "gate", "url": "rtsp://admin:hunter2@127.0.0.1:9/none"},
            ],
            "sinks": [{"kind": "jsonl", "path": str(tmp_path / "r.jsonl"), "records": ["results", "events"]}],
        }
    )


async def until(predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        await asyncio.sleep(0.1)


async def running(daemon: Daemon) -> asyncio.Task:
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_ready(), 30)
    return task


async def stopped(daemon: Daemon, task: asyncio.Task) -> None:
    daemon.stop()
    await asyncio.wait_for(task, 30)


async def test_signing_in_gives_an_httponly_cookie_that_opens_the_console_and_writes_need_the_console_header(
    tmp_path, nudenet_path, camera_clip
):
    daemon = Daemon(daemon_config(tmp_path, nudenet_path, camera_clip), ApiConfig(host="0.0.0.0", port=0, token=TOKEN))
    task = await running(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    try:
        # unsafe: keep cookies of an IP address, as a browser does (aiohttp's jar drops them by default)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            login = await http.get(f"{base}/")
            assert login.status == 401 and "text/html" in login.headers["Content-Type"]
            page = await login.text()
            assert "<form" in page and TOKEN not in page
            assert "script-src 'self'" in login.headers["Content-Security-Policy"]
            assert (await http.get(f"{base}/console/static/style.css")).status == 200  # no data in it: open
            assert (await http.get(f"{base}/console/static/..%2Fpages.py")).status == 404
            assert (await http.get(f"{base}/api/v1/streams")).status == 401

            # The page's form posts (never GETs) when its script has not loaded: no token in a URL.
            assert 'method="post" action="/api/v1/session"' in page
            by_form = await http.post(f"{base}/api/v1/session", data={"token": TOKEN}, allow_redirects=False)
            assert by_form.status == 303 and by_form.headers["Location"] == "/" and by_form.cookies["vigil_session"]["httponly"]
            http.cookie_jar.clear()
            assert (await http.post(f"{base}/api/v1/session", data={"token": "nope-nope-nope"})).status == 401
            wrong = await http.post(f"{base}/api/v1/session", json={"token": "not-the-token-at-all"})
            assert wrong.status == 401 and "vigil_session" not in wrong.cookies
            signed = await http.post(f"{base}/api/v1/session", json={"token": TOKEN})
            assert signed.status == 204
            cookie = signed.cookies["vigil_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
            assert TOKEN not in cookie.value and len(cookie.value) >= 32

            index = await http.get(f"{base}/")
            assert index.status == 200 and "app.js" in await index.text()
            assert (await http.get(f"{base}/api/v1/streams")).status == 200
            assert (await (await http.get(f"{base}/api/v1/session")).json()) == {"auth": "cookie", "token_required": True}

            shapes = {"zones": [{"name": "porch", "polygon": FACE_ZONE}], "lines": []}
            forged = await http.put(f"{base}/api/v1/streams/door/zones", json=shapes)  # cookie, no console header
            assert forged.status == 403 and "X-Vigil-Console" in (await forged.json())["error"]
            elsewhere = await http.put(
                f"{base}/api/v1/streams/door/zones",
                json=shapes,
                headers={"X-Vigil-Console": "1", "Origin": "http://evil.example"},
            )
            assert elsewhere.status == 403
            saved = await http.put(f"{base}/api/v1/streams/door/zones", json=shapes, headers={"X-Vigil-Console": "1"})
            assert saved.status == 200, await saved.text()

            assert (await http.delete(f"{base}/api/v1/session")).status == 204
            assert (await http.get(f"{base}/api/v1/streams")).status == 401
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            # A script with the bearer token needs no console header; the cookie is not the token.
            assert (await http.put(f"{base}/api/v1/streams/door/zones", json={"zones": []})).status == 200
            async with aiohttp.ClientSession(cookies={"vigil_session": TOKEN}) as cheat:
                assert (await cheat.get(f"{base}/api/v1/streams")).status == 401
    finally:
        await stopped(daemon, task)


async def test_a_zone_saved_through_the_api_makes_events_at_once_lasts_a_restart_and_shows_in_the_config(
    tmp_path, nudenet_path, camera_clip
):
    layer_file = tmp_path / "state" / "api-streams.json"
    daemon = Daemon(daemon_config(tmp_path, nudenet_path, camera_clip), ApiConfig(port=0), StreamLayer.load(layer_file))
    task = await running(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    try:
        async with aiohttp.ClientSession(headers={"X-Vigil-Console": "1"}) as http:

            async def framed() -> bool:
                body = await (await http.get(f"{base}/api/v1/streams/door/zones")).json()
                return body["width"] is not None

            await until(framed, what="a frame of door")
            before = await (await http.get(f"{base}/api/v1/streams/door/zones")).json()
            assert before == {
                "zones": [
                    {
                        "name": "corner",
                        "polygon": [[float(x), float(y)] for x, y in EMPTY_ZONE],
                        "classes": None,
                        "dwell_s": None,
                        "speed_limit_kmh": None,
                        "normalized": False,
                    }
                ],
                "lines": [],
                "width": 320,
                "height": 240,
            }
            streams = (await (await http.get(f"{base}/api/v1/streams")).json())["streams"]
            door = next(s for s in streams if s["name"] == "door")
            assert door["models"] == ["default"] and (door["width"], door["height"]) == (320, 240)
            assert door["dropped"] >= 0

            bad = await http.put(
                f"{base}/api/v1/streams/door/zones",
                json={"zones": [{"name": "bow", "polygon": [[0, 0], [100, 100], [100, 0], [0, 100]]}]},
            )
            assert bad.status == 422 and "zones.0" in (error := (await bad.json())["error"]) and "crosses itself" in error
            assert (await http.put(f"{base}/api/v1/streams/door/zones", json={"zones": [], "cameras": 1})).status == 422
            assert (await http.put(f"{base}/api/v1/streams/nowhere/zones", json={"zones": []})).status == 404

            saved_at = time.monotonic()
            shapes = {
                "zones": [{"name": "porch", "polygon": FACE_ZONE, "classes": ["FACE_FEMALE"]}],
                "lines": [{"name": "sill", "start": [0, 230], "end": [320, 230]}],
            }
            answer = await http.put(f"{base}/api/v1/streams/door/zones", json=shapes)
            assert answer.status == 200, await answer.text()
            assert [z["name"] for z in (await answer.json())["zones"]] == ["porch"]

            async def entered() -> bool:
                events = (await (await http.get(f"{base}/api/v1/events?source=door&type=zone_enter")).json())["events"]
                return any(e.get("zone") == "porch" for e in events)

            await until(entered, what="a zone_enter of the new zone")
            took = time.monotonic() - saved_at
            streams = (await (await http.get(f"{base}/api/v1/streams")).json())["streams"]
            assert next(s for s in streams if s["name"] == "door")["state"] == "streaming"  # the camera kept running

            config = await (await http.get(f"{base}/api/v1/config")).json()
            door_config = next(s for s in config["config"]["sources"] if s["name"] == "door")
            assert [z["name"] for z in door_config["zones"]] == ["porch"] and door_config["lines"][0]["name"] == "sill"
            as_yaml = await (await http.get(f"{base}/api/v1/config?format=yaml")).text()
            assert "porch" in as_yaml
            shown = json.dumps(config) + as_yaml
            assert "hunter2" not in shown and "admin:***@" in shown
    finally:
        await stopped(daemon, task)
    assert took < 15
    saved = json.loads(layer_file.read_text())
    assert saved["streams"]["door"]["source"]["zones"][0]["name"] == "porch"

    # A restart (same YAML, same state file) runs the zone saved through the API.
    again = Daemon(daemon_config(tmp_path, nudenet_path, camera_clip), ApiConfig(port=0), StreamLayer.load(layer_file))
    task = await running(again)
    try:
        assert [z.name for z in again.source_config("door").zones] == ["porch"]
    finally:
        await stopped(again, task)


async def test_the_old_stages_close_when_zones_change_so_every_object_start_has_its_object_end(
    tmp_path, nudenet_path, camera_clip
):
    config = daemon_config(tmp_path, nudenet_path, camera_clip)
    config.sources[0].zones[0].polygon[:] = [tuple(p) for p in FACE_ZONE]  # type: ignore[misc]
    daemon = Daemon(DaemonConfig.model_validate(config.model_dump()), ApiConfig(port=0))
    task = await running(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    try:
        async with aiohttp.ClientSession(headers={"X-Vigil-Console": "1"}) as http:

            async def started_once() -> bool:
                events = (await (await http.get(f"{base}/api/v1/events?source=door&type=object_start")).json())["events"]
                return bool(events)

            await until(started_once, what="an object_start")
            assert (await http.put(f"{base}/api/v1/streams/door/zones", json={"zones": []})).status == 200

            async def ended() -> bool:
                events = (await (await http.get(f"{base}/api/v1/events?source=door&type=object_end")).json())["events"]
                return bool(events)

            await until(ended, 10, what="the old tracks' object_end")
    finally:
        await stopped(daemon, task)
