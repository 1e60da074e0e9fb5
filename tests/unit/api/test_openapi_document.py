"""The OpenAPI document against openapi-spec-validator and against the app's own router: every
route aiohttp registers is documented with its methods and path parameters, every query
parameter a handler reads is documented, and nothing documented is missing from the router.
The app is the real one (`make_app`) over a small in-memory control, with the live views and
event search switched on so their routes exist too."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from tests.unit.api.control_doubles import a_model, a_stream, ready
from vigil.api.app import make_app
from vigil.api.models import EffectiveConfig, ModelInfo, ModelList, Readiness, Removed, Stream, StreamList
from vigil.api.openapi import openapi_document
from vigil.config import SourceConfig
from vigil.config.api import ApiConfig
from vigil.config.cascade import CascadeConfig
from vigil.events import Event
from vigil.store.log import EventLog

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


class MemoryControl:
    """A `Control` over one stream, `door`, and nothing running."""

    def __init__(self) -> None:
        self.configs = {"door": SourceConfig.model_validate({"name": "door", "url": "rtsp://10.0.0.1/door"})}

    def readiness(self) -> Readiness:
        return ready()

    def streams(self) -> StreamList:
        return StreamList(streams=[a_stream(name, config.url) for name, config in self.configs.items()])

    async def add_stream(self, config: SourceConfig) -> Stream:
        self.configs[config.name] = config
        return next(s for s in self.streams().streams if s.name == config.name)

    async def remove_stream(self, name: str) -> Removed:
        self.configs.pop(name)
        return Removed(removed=name)

    def model_info(self) -> ModelInfo:
        return self.models_info().models[0]

    def models_info(self) -> ModelList:
        return ModelList(models=[a_model(sources=("door",))])

    def metrics(self) -> bytes:
        return b"# nothing\n"

    def source_config(self, name: str) -> SourceConfig | None:
        return self.configs.get(name)

    def frame_size(self, name: str) -> tuple[int, int] | None:
        return None

    async def set_source_stages(self, config: SourceConfig) -> None:
        self.configs[config.name] = config

    def effective_config(self) -> EffectiveConfig:
        return EffectiveConfig(config={"sources": [c.model_dump(mode="json", exclude_unset=True) for c in self.configs.values()]})


class StillLive:
    """The live views: one still picture, no stream."""

    max_width = 640

    @contextlib.asynccontextmanager
    async def subscribe(self, name: str, width: int | None) -> AsyncIterator[AsyncIterator[bytes]]:
        async def nothing() -> AsyncIterator[bytes]:
            return
            yield b""

        yield nothing()

    async def snapshot(self, name: str, width: int | None, annotate: bool) -> bytes | None:
        return b"\xff\xd8\xff\xd9"

    def close(self) -> None:
        pass


class NoSearch:
    """Event search over nothing."""

    def events(self, events: list[Event]) -> None:
        pass

    async def by_text(self, text: str, limit: int, source: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return []

    async def like(
        self, event_id: str, limit: int, source: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]] | None:
        return []


def an_app() -> tuple[web.Application, str]:
    log = EventLog(search=NoSearch())  # type: ignore[arg-type]
    event = Event("zone_enter", "door", 3, "person", 0, T0, 12, confidence=0.9, zone="porch")
    log.events([event])
    return make_app(MemoryControl(), store=log, live=StillLive()), event.event_id  # type: ignore[arg-type]


def routes(app: web.Application) -> Iterator[tuple[str, str]]:
    """(path template, method) of every route, HEAD left out (aiohttp adds it beside each GET)."""
    for route in app.router.routes():
        info = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD":
            yield info, route.method.lower()


def documented_parameters(document: dict[str, Any], path: str, method: str, where: str) -> set[str]:
    item = document["paths"][path]
    return {p["name"] for p in [*item.get("parameters", []), *item[method].get("parameters", [])] if p["in"] == where}


def test_the_document_is_valid_openapi_3_1():
    document = openapi_document()
    validate(document)  # raises naming the first problem (a dangling $ref, a default its schema refuses, ...)
    assert "$defs" not in repr(document), "every schema is in components/schemas"


def test_a_cascade_is_named_after_its_model_and_its_schema_has_no_default_that_fails_its_pattern():
    assert CascadeConfig(model="plates").name == "plates"
    assert "default" not in CascadeConfig.model_json_schema()["properties"]["name"]


def test_every_route_of_the_app_is_documented_with_its_methods_and_path_parameters():
    app, _ = an_app()
    document = openapi_document()
    registered = set(routes(app))
    assert registered, "the app has routes"
    for path, method in sorted(registered):
        assert path in document["paths"], f"{path} is not documented"
        assert method in document["paths"][path], f"{method.upper()} {path} is not documented"
        assert documented_parameters(document, path, method, "path") == set(re.findall(r"{(\w+)}", path)), path
        operation = document["paths"][path][method]
        assert any(code.startswith("2") or code == "303" for code in operation["responses"]), path
    documented = {(path, method) for path, item in document["paths"].items() for method in item if method != "parameters"}
    assert documented == registered, f"documented but not served: {sorted(documented - registered)}"
    # The document says HEAD is answered wherever GET is, but on live.mjpeg (a HEAD would never end).
    heads = {route.resource.canonical for route in app.router.routes() if route.method == "HEAD" and route.resource}
    assert {path for path, method in registered if method == "get"} - heads == {"/api/v1/streams/{name}/live.mjpeg"}
    assert "live.mjpeg" in document["info"]["description"]


class Recorder:
    """Which query keys handlers read (`request.query` wrapped for the test)."""

    def __init__(self) -> None:
        self.read: set[str] = set()

    def wrap(self, query: Any) -> Any:
        recorder = self

        class Recording:
            def get(self, key: str, default: Any = None) -> Any:
                recorder.read.add(key)
                return query.get(key, default)

            def __getitem__(self, key: str) -> Any:
                recorder.read.add(key)
                return query[key]

            def __contains__(self, key: object) -> bool:
                recorder.read.add(str(key))
                return key in query

            def getone(self, key: str, *default: Any) -> Any:
                recorder.read.add(key)
                return query.getone(key, *default)

            def getall(self, key: str, *default: Any) -> Any:
                recorder.read.add(key)
                return query.getall(key, *default)

            def __iter__(self) -> Iterator[str]:
                return iter(query)

            def __len__(self) -> int:
                return len(query)

            def keys(self) -> Any:
                return query.keys()

            def items(self) -> Any:
                return query.items()

        return Recording()


def example(parameter: dict[str, Any]) -> str:
    schema = parameter["schema"]
    if "enum" in schema:
        return str(schema["enum"][-1])
    if schema.get("type") == "integer":
        return str(schema.get("minimum", 1))
    return {"source": "door", "since": "2026-12-01T00:00:00Z", "until": "2026-12-02T00:00:00Z"}.get(parameter["name"], "x")


def concrete(path: str, event_id: str) -> str:
    return path.replace("{name}", "door").replace("{id}", event_id).replace("/console/static/door", "/console/static/style.css")


async def test_every_query_parameter_a_handler_reads_is_documented(monkeypatch):
    recorder = Recorder()
    original = web.BaseRequest.__dict__["query"]
    monkeypatch.setattr(
        web.BaseRequest, "query", property(lambda request: recorder.wrap(original.__get__(request, type(request))))
    )
    app, event_id = an_app()
    document = openapi_document()
    bodies = {
        ("/api/v1/streams", "post"): {"name": "porch", "url": "rtsp://10.0.0.2/porch"},
        ("/api/v1/streams/{name}/zones", "put"): {"zones": [], "lines": []},
        ("/api/v1/session", "post"): {"token": "x"},
    }
    async with TestClient(TestServer(app)) as client:
        for path, method in sorted(routes(app), key=lambda r: r[1] == "delete"):  # deletes last
            documented = documented_parameters(document, path, method, "query")
            parameters = [
                p
                for item in (document["paths"][path], document["paths"][path][method])
                for p in item.get("parameters", [])
                if p["in"] == "query"
            ]
            given = {p["name"]: example(p) for p in parameters}
            if "q" in given:
                given.pop("like")  # one or the other
            for query in ({}, given):
                recorder.read.clear()
                headers = {"X-Vigil-Console": "1", "Origin": str(client.make_url("")).rstrip("/")}
                async with client.request(
                    method.upper(), concrete(path, event_id), params=query, headers=headers, json=bodies.get((path, method))
                ) as response:
                    what = f"{method.upper()} {path}?{query}: {response.status}"
                    assert response.status < 500, f"{what} {await response.text()}"
                    assert str(response.status) in document["paths"][path][method]["responses"], f"{what} is not documented"
                    if "mjpeg" not in path:
                        await response.read()
                assert recorder.read <= documented, f"{method.upper()} {path} reads undocumented {recorder.read - documented}"


@pytest.mark.parametrize("path", ["/api/v1/openapi.json"])
async def test_the_app_serves_the_document(path):
    app, _ = an_app()
    async with TestClient(TestServer(app)) as client:
        response = await client.get(path)
        assert response.status == 200
        served = await response.json()
    assert served == openapi_document()
    validate(served)


class HeldLive(StillLive):
    """Live views that stream nothing until `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self, name: str, width: int | None) -> AsyncIterator[Any]:
        release = self.release

        class Held:
            def __aiter__(self) -> Held:
                return self

            async def __anext__(self) -> bytes:
                await release.wait()
                raise StopAsyncIteration

        yield Held()


async def test_a_live_view_beyond_the_cap_is_the_documented_503():
    live = HeldLive()
    app = make_app(MemoryControl(), live=live, api=ApiConfig(max_connections=4))  # type: ignore[arg-type]
    api = OpenAPI.from_dict(openapi_document())
    path = "/api/v1/streams/door/live.mjpeg"
    async with TestClient(TestServer(app)) as client:
        held = [await client.get(path) for _ in range(2)]  # half of max_connections
        try:
            assert [answer.status for answer in held] == [200, 200]
            refused = await client.get(path)
            body = await refused.read()
            assert refused.status == 503, body
            api.validate_response(
                MockRequest(str(client.make_url("")).rstrip("/"), "get", path),
                MockResponse(body, status_code=503, content_type=refused.content_type),
            )
        finally:
            live.release.set()
            for answer in held:
                await answer.read()
