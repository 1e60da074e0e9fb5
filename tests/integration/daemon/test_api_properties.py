"""Every route of the real API app (`make_app`, its routes enumerated from aiohttp's router, so a
route added later is covered without touching this file) answers any query, path and body with
something else than a 5xx: bad input is the client's fault (issue 26, item 8). Hypothesis draws
the requests; the app runs behind aiohttp's test server, with and without a token, over a
Control that keeps streams in memory (nothing is started, nothing leaves the machine), the
console's live view holding a frame of 'door'."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientTimeout
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.results import make_result
from tests.unit.api.control_doubles import a_model, a_stream, ready
from vigil.api.app import make_app
from vigil.api.console.live import LiveView
from vigil.api.models import EffectiveConfig, ModelInfo, ModelList, Readiness, Removed, Stream, StreamList
from vigil.config import SourceConfig
from vigil.config.api import ApiConfig
from vigil.sources.base import SourceState
from vigil.store.log import EventLog

TOKEN = "property-test-token-0123456789"
DOOR = SourceConfig(name="door", url="rtsp://127.0.0.1:9/door")
QUERY_KEYS = ["width", "annotate", "limit", "source", "type", "since", "until", "q", "like", "format", "token"]
ODD_TEXT = st.sampled_from(["²", "٣", "1e3", "-1", "0", "99999999999999999999", "320", "nan", "\x00", "%", "../x", "", " "])


class MemoryControl:
    """The daemon as the API sees it, in memory: one camera, 'door'; added streams are accepted
    and described but never run."""

    def __init__(self) -> None:
        self.configs = {"door": DOOR}

    def readiness(self) -> Readiness:
        return ready()

    def streams(self) -> StreamList:
        return StreamList(streams=[a_stream(n, c.url) for n, c in self.configs.items()])

    async def add_stream(self, config: SourceConfig) -> Stream:
        return a_stream(config.name, config.url, origin="api", state=SourceState.CONNECTING)

    async def remove_stream(self, name: str) -> Removed:
        return Removed(removed=name)

    def model_info(self) -> ModelInfo:
        return a_model()

    def models_info(self) -> ModelList:
        return ModelList(models=[self.model_info()])

    def metrics(self) -> bytes:
        return b"vigil_up 1\n"

    def source_config(self, name: str) -> SourceConfig | None:
        return self.configs.get(name)

    def frame_size(self, name: str) -> tuple[int, int] | None:
        return (64, 48) if name in self.configs else None

    async def set_source_stages(self, config: SourceConfig) -> None:
        self.configs[config.name] = config

    def effective_config(self) -> EffectiveConfig:
        return EffectiveConfig(config={"sources": [c.model_dump(mode="json") for c in self.configs.values()]})


def build_app(token: str | None) -> Any:
    live = LiveView(fps=5.0, max_width=640)
    live.published(make_result("door", 0))
    control = MemoryControl()
    # Connections unbounded here (live views are capped at half of them): the property is about input.
    return make_app(control, token, EventLog(), live, api=ApiConfig(max_connections=10_000))


def routes() -> list[tuple[str, str]]:
    """(method, path pattern) of every route the app has."""
    app = build_app(None)
    found = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    return sorted(found)


ROUTES = routes()


class Served:
    """The app behind aiohttp's test server, on a loop of its own (hypothesis calls are sync)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(self._start(build_app(token)))

    @staticmethod
    async def _start(app: Any) -> TestClient:
        client = TestClient(TestServer(app), timeout=ClientTimeout(total=20))
        await client.start_server()
        return client

    def ask(self, method: str, path: str, **options: Any) -> tuple[int, str]:
        async def call() -> tuple[int, str]:
            async with self.client.request(method, path, allow_redirects=False, **options) as answer:
                if answer.content_type == "multipart/x-mixed-replace":
                    return answer.status, ""  # a live stream: it never ends, its status is the answer
                return answer.status, await answer.text(errors="replace")

        return self.loop.run_until_complete(call())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture(scope="module", params=[None, TOKEN], ids=["no-token", "token"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    served = Served(request.param)
    yield served
    served.close()


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=max_leaves,
    )


def plausible_bodies() -> st.SearchStrategy[Any]:
    """Objects shaped like what the routes take, with wrong values in them."""
    point = st.tuples(st.integers(-10, 700) | st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 700))
    shape = st.fixed_dictionaries({"name": st.text(max_size=12) | ODD_TEXT, "polygon": st.lists(point, max_size=6)})
    line = st.fixed_dictionaries({"name": st.text(max_size=12), "start": point, "end": point})
    source = st.fixed_dictionaries(
        {
            "name": st.text(max_size=12) | ODD_TEXT,
            "url": st.sampled_from(["rtsp://127.0.0.1:9/x", "", "rtsp://", "/etc/passwd", "v4l2:/dev/null"]),
        },
        optional={
            "realtime": json_values(3),
            "zones": st.lists(shape, max_size=2),
            "models": json_values(3),
            "max_fps": json_values(2),
        },
    )
    return (
        st.fixed_dictionaries({"zones": st.lists(shape, max_size=3), "lines": st.lists(line, max_size=2)})
        | source
        | st.fixed_dictionaries({"token": json_values(5)})
    )


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def requests(draw: st.DrawFn, pattern: str, method: str, token: str | None) -> tuple[str, dict[str, Any]]:
    path = pattern
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        # Mostly the camera that exists, so the request gets past the lookup to the parsing.
        value = draw(st.one_of(st.just("door"), st.just("door"), ODD_TEXT.filter(bool), st.text(min_size=1, max_size=20)))
        path = path[:start] + quote(value, safe="") + path[end + 1 :]
    # Mostly the keys the routes read, mostly with values that have broken parsers before.
    keys = st.one_of(st.sampled_from(QUERY_KEYS), st.sampled_from(QUERY_KEYS), st.text(max_size=6))
    query = draw(st.dictionaries(keys, st.one_of(ODD_TEXT, ODD_TEXT, st.text(max_size=12)), max_size=4))
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["X-Vigil-Console"] = "1"
    if token and draw(st.integers(0, 3)):  # mostly with it: without, every route but a few is a 401
        headers["Authorization"] = f"Bearer {token}"
    options: dict[str, Any] = {"params": query, "headers": headers}
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        kind = draw(st.sampled_from(["json", "plausible", "deep", "raw", "form", "none"]))
        if kind in ("json", "plausible"):
            options["data"] = json.dumps(draw(json_values() if kind == "json" else plausible_bodies())).encode()
            headers["Content-Type"] = "application/json"
        elif kind == "deep":
            options["data"] = nested(draw(st.sampled_from([33, 1000, 5000, 100_000]))).encode()
            headers["Content-Type"] = "application/json"
        elif kind == "raw":
            options["data"] = draw(st.binary(max_size=200))
            headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain", "application/json; charset=nope"]))
        elif kind == "form":
            options["data"] = {"token": draw(st.text(max_size=20))}
    return path, options


@pytest.mark.parametrize(("method", "pattern"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_no_route_answers_bad_input_with_a_5xx(served: Served, method: str, pattern: str) -> None:
    token = served.token

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(request=requests(pattern, method, token))
    def check(request: tuple[str, dict[str, Any]]) -> None:
        path, options = request
        status, body = served.ask(method, path, **options)
        shown = {k: (v[:80] + b"..." if isinstance(v, bytes) and len(v) > 80 else v) for k, v in options.items()}
        assert status < 500, f"{method} {path} {shown} answered {status}: {body[:500]}"

    check()


def test_the_routes_are_enumerated() -> None:
    # The property covers what the router has; a sanity check that it found the API's routes.
    paths = {p for _, p in ROUTES}
    assert {"/api/v1/streams", "/api/v1/session", "/api/v1/streams/{name}/frame.jpg", "/api/v1/config"} <= paths
    assert len(ROUTES) >= 20


@pytest.mark.parametrize(
    ("method", "path", "options"),
    [
        ("GET", "/api/v1/streams/door/frame.jpg", {"params": {"width": "²"}}),
        ("GET", "/api/v1/streams/door/live.mjpeg", {"params": {"width": "²"}}),
        ("GET", "/api/v1/streams/door/frame.jpg", {"params": {"width": "٣٢٠"}}),  # Arabic-Indic 320
        ("POST", "/api/v1/session", {"data": nested(5000), "headers": {"Content-Type": "application/json"}}),
        (
            "POST",
            "/api/v1/streams",
            {"data": nested(5000), "headers": {"Content-Type": "application/json", "X-Vigil-Console": "1"}},
        ),
        (
            "PUT",
            "/api/v1/streams/door/zones",
            {"data": '{"zones": ' + nested(40) + "}", "headers": {"Content-Type": "application/json", "X-Vigil-Console": "1"}},
        ),
        # Labelled as text (a bearer script's mistake; a browser's write without the token is a 415).
        (
            "PUT",
            "/api/v1/streams/door/zones",
            {"data": nested(5000), "headers": {"Content-Type": "text/plain", "X-Vigil-Console": "1"}},
        ),
    ],
    ids=[
        "frame-superscript-width",
        "mjpeg-superscript-width",
        "frame-arabic-width",
        "session-nested",
        "streams-nested",
        "zones-nested",
        "zones-nested-as-text",
    ],
)
def test_the_inputs_that_gave_500s_are_4xx(served: Served, method: str, path: str, options: dict[str, Any]) -> None:
    if served.token:
        options = {**options, "headers": {**options.get("headers", {}), "Authorization": f"Bearer {served.token}"}}
    status, body = served.ask(method, path, **options)
    as_text = options["headers"].get("Content-Type") == "text/plain" if "headers" in options else False
    assert status == (415 if as_text and not served.token else 400), (status, body)
    assert "error" in json.loads(body)
