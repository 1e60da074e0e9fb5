"""Real answers of a running daemon validated against the OpenAPI document it serves, with
openapi-core: the daemon in-process with its real aiohttp server, the real YOLOv8n on a looping
camera clip whose zone makes real events, a snapshot sink writing their pictures, event search
with a tiny random-weight CLIP, a camera that is down, and a token. Every route is driven, its
success and its refusals (401, 403, 404, 409, 415, 421, 422, readyz's 503), and each answer must
be one the document describes, field by field."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from tests.conftest import encode_clip, photo
from tests.integration.sinks.test_webhook_sink import free_port
from tests.support.tiny_hf import build_clip
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.daemon.service import Daemon

TOKEN = "openapi-token-for-tests-0123"
FACE_ZONE = [[100, 20], [300, 20], [300, 200], [100, 200]]  # the astronaut's face, in 320x240 pixels
BEARER = {"Authorization": f"Bearer {TOKEN}"}
WRITE = {**BEARER, "X-Vigil-Console": "1"}


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory):
    return encode_clip(tmp_path_factory.mktemp("cam") / "cam.mp4", photo("astronaut"), frames=30, size=(320, 240), fps=10)


@pytest.fixture(scope="module")
def clip_model(tmp_path_factory):
    return build_clip(tmp_path_factory.mktemp("clip") / "clip")


def daemon_config(tmp_path: Path, nudenet_path: Path, clip: Path, clip_model: Path) -> DaemonConfig:
    return DaemonConfig.model_validate(
        {
            "model": {"path": str(nudenet_path), "image_size": 320},
            "sources": [
                {
                    "name": "door",
                    "url": str(clip),
                    "realtime": True,
                    "loop": True,
                    "zones": [{"name": "porch", "polygon": FACE_ZONE}],
                },
                {
                    "name": "gate",
                    "url": f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/live",
                    "reconnect": {"initial_s": 0.2, "max_s": 1.0},
                },
            ],
            "sinks": [
                {"kind": "snapshot", "directory": str(tmp_path / "snapshots"), "records": ["events"]},
            ],
            "search": {"model": str(clip_model), "database": str(tmp_path / "search.sqlite")},
        }
    )


class Checked:
    """Requests to the daemon whose answers openapi-core validates against `document`."""

    def __init__(self, http: aiohttp.ClientSession, base: str, document: dict[str, Any]) -> None:
        self.http, self.base = http, base
        self.api = OpenAPI.from_dict(document)
        self.answered: set[tuple[str, str, int]] = set()

    async def __call__(
        self,
        method: str,
        path: str,
        status: int,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        **body: Any,
    ) -> Any:
        async with self.http.request(
            method,
            self.base + path,
            params=params,
            headers=headers if headers is not None else (WRITE if method != "GET" else BEARER),
            allow_redirects=False,
            **body,
        ) as answer:
            endless = answer.content_type.startswith("multipart/")  # a live view: its first part is enough
            data = await answer.content.readexactly(2) if endless else await answer.read()
            assert answer.status == status, f"{method} {path}: {answer.status} {data[:300]!r}"
            content_type = answer.content_type
        request = MockRequest(self.base, method.lower(), path, args=params or {})
        self.api.validate_response(request, MockResponse(data, status_code=status, content_type=content_type))
        self.answered.add((method, path, status))
        return json.loads(data) if content_type == "application/json" else data

    def unanswered(self, document: dict[str, Any]) -> set[tuple[str, str]]:
        """The documented operations no request reached."""

        def template(path: str) -> str:
            exact = [t for t in document["paths"] if t == path]
            return (exact or [t for t in document["paths"] if re.fullmatch(re.sub(r"\\{\w+\\}", "[^/]+", re.escape(t)), path)])[0]

        reached = {(method.lower(), template(path)) for method, path, _ in self.answered}
        return {(method, path) for path, item in document["paths"].items() for method in item if method != "parameters"} - reached


async def answered(value: Any) -> Any:
    return value


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} not within {timeout:g} s"
        await asyncio.sleep(0.2)


async def test_every_route_answers_as_the_openapi_document_says(tmp_path, nudenet_path, camera_clip, clip_model):
    daemon = Daemon(daemon_config(tmp_path, nudenet_path, camera_clip, clip_model), ApiConfig(port=0, token=TOKEN))
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(daemon.wait_ready(), 60)
        base = f"http://127.0.0.1:{daemon.api_port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            document = await (await http.get(f"{base}/api/v1/openapi.json", headers=BEARER)).json()
            validate(document)
            call = Checked(http, base, document)
            await call("GET", "/api/v1/openapi.json", 200)
            await health_and_streams(call, daemon)
            await events_and_search(call, daemon)
            await counts_and_heatmap(call)
            await zones_config_and_live(call)
            await session(call)
            await readiness_when_every_camera_is_down(call)
            assert not call.unanswered(document), "every documented operation is driven"
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)


async def health_and_streams(call: Checked, daemon: Daemon) -> None:
    assert await call("GET", "/healthz", 200, headers={}) == {"status": "ok"}
    assert await call("GET", "/", 401, headers={})  # the sign-in page
    await call("GET", "/console/static/style.css", 200, headers={})
    await call("GET", "/console/static/nothing.css", 404, headers={})
    await until(lambda: answered(daemon.readiness().ready), "ready")  # the door camera streams
    await call("GET", "/readyz", 200)
    assert b"vigil_" in await call("GET", "/metrics", 200)
    assert (await call("GET", "/api/v1/streams", 401, headers={}))["error"]
    await call("GET", "/api/v1/streams", 421, headers={**BEARER, "Host": "rebound.example"})
    streams = (await call("GET", "/api/v1/streams", 200))["streams"]
    assert {s["name"] for s in streams} == {"door", "gate"} and "hunter2" not in json.dumps(streams)
    await call("GET", "/api/v1/streams/door", 200)
    await call("GET", "/api/v1/streams/nope", 404)
    porch = {"name": "porch", "url": "rtsp://127.0.0.1:9/porch"}
    assert (await call("POST", "/api/v1/streams", 201, json=porch))["origin"] == "api"
    await call("POST", "/api/v1/streams", 409, json=porch)
    assert "url" in (await call("POST", "/api/v1/streams", 422, json={"name": "yard"}))["error"]
    await call("POST", "/api/v1/streams", 400, data=b"{not json", headers={**WRITE, "Content-Type": "application/json"})
    assert await call("DELETE", "/api/v1/streams/porch", 200) == {"removed": "porch"}
    await call("DELETE", "/api/v1/streams/porch", 404)
    await call("GET", "/api/v1/fleet", 404)  # no fleet: here (a fleet box: tests/integration/fleet/test_fleet_api.py)
    await call("PUT", "/api/v1/streams/porch", 404, json=porch)
    models = (await call("GET", "/api/v1/models", 200))["models"]
    assert models and (await call("GET", "/api/v1/model", 200))["name"] == models[0]["name"]


async def events_and_search(call: Checked, daemon: Daemon) -> None:
    async def pictured() -> list[dict[str, Any]]:
        events = (await call("GET", "/api/v1/events", 200, params={"source": "door", "limit": "50"}))["events"]
        return [e for e in events if "snapshot_url" in e and "crop_url" in e]

    event = (await until(pictured, "an event with its pictures"))[0]
    assert event["type"] in ("object_start", "zone_enter") and event["source"] == "door"
    assert await call("GET", f"/api/v1/events/{event['id']}", 200) == event
    assert (await call("GET", event["snapshot_url"], 200))[:2] == b"\xff\xd8"
    await call("GET", event["crop_url"], 200)
    await call("GET", f"/api/v1/events/{event['id']}/clip.mp4", 404)  # the camera records no clips
    await call("GET", "/api/v1/events/nope", 404)
    await call("GET", "/api/v1/events", 400, params={"type": "bogus"})
    await call("GET", "/api/v1/events", 200, params={"type": "zone_enter", "since": "2020-01-01T00:00:00Z"})

    await until(
        lambda: answered((search := getattr(daemon.store, "search_index", None)) is not None and search.embedded >= 1),
        "an event embedded",
    )
    found = (await call("GET", "/api/v1/events/search", 200, params={"q": "a photo of a person", "source": "door"}))["events"]
    assert found and all("score" in f for f in found)
    like = (await call("GET", "/api/v1/events/search", 200, params={"like": found[0]["id"], "limit": "3"}))["events"]
    assert like[0]["id"] == found[0]["id"]
    await call("GET", "/api/v1/events/search", 400)
    await call("GET", "/api/v1/events/search", 404, params={"like": "nope"})


async def counts_and_heatmap(call: Checked) -> None:
    entered = {"source": "door", "type": "zone_enter"}
    await until(lambda: answered_events(call, entered), "a zone_enter on door")
    rows = (await call("GET", "/api/v1/counts", 200, params={"source": "door", "zone": "porch"}))["rows"]
    assert sum(row["entries"] for row in rows) >= 1 and all(row["line"] is None for row in rows)
    csv = await call("GET", "/api/v1/counts", 200, params={"source": "door", "format": "csv"})
    assert csv.startswith(b"start,end,source,line,zone,in,out,")
    await call("GET", "/api/v1/counts", 400, params={"interval": "2d"})
    await call("GET", "/api/v1/counts", 404, params={"line": "nowhere"})
    assert (await call("GET", "/api/v1/streams/door/heatmap.png", 200, params={"class": "FACE_FEMALE"}))[:4] == b"\x89PNG"
    await call("GET", "/api/v1/streams/gate/heatmap.png", 503)  # the camera that is down: no frame yet
    await call("GET", "/api/v1/streams/nope/heatmap.png", 404)


async def answered_events(call: Checked, params: dict[str, str]) -> list[Any]:
    return list((await call("GET", "/api/v1/events", 200, params=params))["events"])


async def zones_config_and_live(call: Checked) -> None:
    shapes = await call("GET", "/api/v1/streams/door/zones", 200)
    assert [z["name"] for z in shapes["zones"]] == ["porch"] and shapes["width"] == 320
    lines = [{"name": "door-line", "start": [160, 0], "end": [160, 239]}]
    saved = await call("PUT", "/api/v1/streams/door/zones", 200, json={"zones": shapes["zones"], "lines": lines})
    assert [line["name"] for line in saved["lines"]] == ["door-line"]
    bad = {"zones": [{"name": "flat", "polygon": [[0, 0], [10, 10]]}]}
    assert "polygon" in (await call("PUT", "/api/v1/streams/door/zones", 422, json=bad))["error"]
    await call("GET", "/api/v1/streams/nope/zones", 404)
    config = (await call("GET", "/api/v1/config", 200))["config"]
    assert "hunter2" not in json.dumps(config)
    assert b"sources:" in await call("GET", "/api/v1/config", 200, params={"format": "yaml"})
    assert (await call("GET", "/api/v1/streams/door/frame.jpg", 200, params={"width": "160"}))[:2] == b"\xff\xd8"
    await call("GET", "/api/v1/streams/door/frame.jpg", 400, params={"width": "wide"})
    await call("GET", "/api/v1/streams/nope/frame.jpg", 404)
    assert await call("GET", "/api/v1/streams/door/live.mjpeg", 200, params={"width": "160"}) == b"--"
    await call("GET", "/api/v1/streams/nope/live.mjpeg", 404)


async def session(call: Checked) -> None:
    assert await call("GET", "/api/v1/session", 200) == {"auth": "bearer", "token_required": True}
    await call("POST", "/api/v1/session", 401, json={"token": "not-the-token-at-all"}, headers={})
    await call("POST", "/api/v1/session", 303, data={"token": TOKEN}, headers={})  # the form, before the script
    await call("POST", "/api/v1/session", 204, json={"token": TOKEN}, headers={})
    assert (await call("GET", "/api/v1/session", 200, headers={}))["auth"] == "cookie"
    # Writes with the cookie (no token) are under the write rule: JSON and the console's header.
    zones = {"zones": [], "lines": []}
    await call("PUT", "/api/v1/streams/door/zones", 403, json=zones, headers={})
    await call(
        "PUT", "/api/v1/streams/door/zones", 415, data=b"zones=", headers={"X-Vigil-Console": "1", "Content-Type": "text/plain"}
    )
    await call("DELETE", "/api/v1/session", 204, headers={"X-Vigil-Console": "1"})
    await call("GET", "/api/v1/session", 401, headers={})


async def readiness_when_every_camera_is_down(call: Checked) -> None:
    await call("DELETE", "/api/v1/streams/door", 200)  # only the camera that is down is left

    async def unready() -> Any:
        return (
            await call("GET", "/readyz", 503)
            if (await call.http.get(f"{call.base}/readyz", headers=BEARER)).status == 503
            else None
        )

    body = await until(unready, "readyz 503")
    assert body["ready"] is False and body["checks"]["sources"]["gate"]["ok"] is False
    assert "hunter2" not in json.dumps(body)
