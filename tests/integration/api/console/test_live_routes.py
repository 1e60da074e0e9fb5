"""The live routes on a real aiohttp server, read by a real aiohttp client: the MJPEG stream's
parts are JPEGs that change as results arrive; unknown streams, missing frames and bad widths
are refused with JSON; a client that goes away stops the encoder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.unit.api.console.results import decode, face_result
from vigil.api.console.live import LiveView
from vigil.api.console.live_routes import add_live_routes

STREAMS = {"cam1", "cam2"}


@dataclass
class Served:
    live: LiveView
    url: str
    session: aiohttp.ClientSession


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    live = LiveView(fps=10.0, max_width=1280, quality=75)
    app = web.Application()
    add_live_routes(app, live, has_stream=STREAMS.__contains__)
    server = TestServer(app)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Served(live, str(server.make_url("/api/v1/streams")), session)
    live.close()
    await server.close()


async def publish(live: LiveView, stop: asyncio.Event, source: str = "cam1", rate: float = 30.0) -> None:
    """Results as a camera at `rate` would give them, each frame a little further along."""
    seq = 0
    while not stop.is_set():
        live.published(face_result(source, seq))
        seq += 4
        await asyncio.sleep(1 / rate)


async def read_part(content: aiohttp.StreamReader) -> tuple[dict[str, str], bytes]:
    """One part of a multipart/x-mixed-replace body: its headers and its bytes."""
    line = await content.readline()
    assert line == b"--vigilframe\r\n", line
    headers = {}
    while (line := await content.readline()) != b"\r\n":
        assert line, "the stream ended inside a part's headers"
        key, value = line.decode().rstrip("\r\n").split(": ", 1)
        headers[key.lower()] = value
    body = await content.readexactly(int(headers["content-length"]))
    assert await content.readexactly(2) == b"\r\n"
    return headers, body


async def until(predicate: object, timeout: float = 4.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_stream_sends_jpegs_that_change_as_results_arrive(served: Served) -> None:
    stop = asyncio.Event()
    camera = asyncio.create_task(publish(served.live, stop))
    try:
        async with served.session.get(f"{served.url}/cam1/live.mjpeg?width=320") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=vigilframe"
            assert response.headers["Cache-Control"] == "no-store"
            parts = [await asyncio.wait_for(read_part(response.content), 3) for _ in range(4)]
            assert served.live.stats("cam1")["viewers"] == 1
    finally:
        stop.set()
        await camera
    images = []
    for headers, body in parts:
        assert headers["content-type"] == "image/jpeg"
        image = decode(body)
        assert image.shape == (240, 320, 3)
        images.append(image.astype(np.int16))
    for a, b in zip(images, images[1:]):
        assert np.abs(a - b).mean() > 2, "each part is a newer frame"


async def test_a_client_that_goes_away_stops_the_encoder(served: Served) -> None:
    stop = asyncio.Event()
    camera = asyncio.create_task(publish(served.live, stop))
    try:
        response = await served.session.get(f"{served.url}/cam1/live.mjpeg?width=160")
        await asyncio.wait_for(read_part(response.content), 3)
        assert served.live.stats("cam1")["viewers"] == 1
        response.close()  # drops the connection, as a closed browser tab does
        await until(lambda: served.live.stats("cam1")["viewers"] == 0)
        await asyncio.sleep(0.3)
        settled = served.live.stats("cam1")["encoded"]
        await asyncio.sleep(0.6)  # 6 encodes' worth at 10 fps, with results still arriving
        assert served.live.stats("cam1")["encoded"] == settled, "no viewer: the encoder stopped"
        assert "cam1" not in served.live._encoders
    finally:
        stop.set()
        await camera


async def test_a_client_that_goes_away_while_the_camera_is_silent_is_noticed(served: Served) -> None:
    served.live.published(face_result("cam1", 0))
    response = await served.session.get(f"{served.url}/cam1/live.mjpeg")
    headers, body = await asyncio.wait_for(read_part(response.content), 3)
    assert decode(body).shape == (480, 640, 3), "no width: the frame's own size"
    response.close()  # no new frame will come to fail a write on
    await until(lambda: served.live.stats("cam1")["viewers"] == 0)


async def test_forgetting_the_stream_ends_the_response(served: Served) -> None:
    served.live.published(face_result("cam2", 0))
    async with served.session.get(f"{served.url}/cam2/live.mjpeg?width=200") as response:
        await asyncio.wait_for(read_part(response.content), 3)
        served.live.forget("cam2")
        rest = await asyncio.wait_for(response.content.read(), 3)
    assert rest == b"", "the body ends once the stream is removed"
    assert served.live.stats("cam2")["viewers"] == 0


async def test_unknown_stream_is_404_on_both_routes(served: Served) -> None:
    for route in ("live.mjpeg", "frame.jpg"):
        async with served.session.get(f"{served.url}/nope/{route}") as response:
            assert response.status == 404
            assert await response.json() == {"error": "no stream named 'nope'"}


async def test_frame_jpg_is_503_before_the_first_frame_then_a_jpeg(served: Served) -> None:
    async with served.session.get(f"{served.url}/cam1/frame.jpg") as response:
        assert response.status == 503
        assert await response.json() == {"error": "stream 'cam1' has no frame yet"}
    served.live.published(face_result("cam1", 0))
    async with served.session.get(f"{served.url}/cam1/frame.jpg?width=256&annotate=0") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["Cache-Control"] == "no-store"
        assert decode(await response.read()).shape == (192, 256, 3)
    assert served.live.stats("cam1") == {"viewers": 0, "encoded": 1}


@pytest.mark.parametrize(
    "query, message",
    [
        ("width=15", "width must be a whole number of pixels from 16 to 1280, got '15'"),
        ("width=1281", "width must be a whole number of pixels from 16 to 1280, got '1281'"),
        ("width=abc", "width must be a whole number of pixels from 16 to 1280, got 'abc'"),
        ("width=-20", "width must be a whole number of pixels from 16 to 1280, got '-20'"),
        ("annotate=yes", "annotate must be 0 or 1, got 'yes'"),
    ],
)
async def test_bad_parameters_are_400(served: Served, query: str, message: str) -> None:
    served.live.published(face_result("cam1", 0))
    routes = ["frame.jpg"] if query.startswith("annotate") else ["frame.jpg", "live.mjpeg"]
    for route in routes:
        async with served.session.get(f"{served.url}/cam1/{route}?{query}") as response:
            assert response.status == 400
            assert await response.json() == {"error": message}
    assert served.live.stats("cam1") == {"viewers": 0, "encoded": 0}


async def test_head_of_the_stream_is_refused(served: Served) -> None:
    async with served.session.head(f"{served.url}/cam1/live.mjpeg") as response:
        assert response.status == 405, "a HEAD of an endless stream would never end"
    assert served.live.stats("cam1")["viewers"] == 0


async def test_the_server_stops_at_once_with_viewers_watching() -> None:
    live = LiveView(fps=10.0)
    app = web.Application()
    add_live_routes(app, live, has_stream=STREAMS.__contains__)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=30.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    live.published(face_result("cam1", 0))
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"http://127.0.0.1:{port}/api/v1/streams/cam1/live.mjpeg?width=320")
        await asyncio.wait_for(read_part(response.content), 3)
        started = asyncio.get_running_loop().time()
        await runner.cleanup()
        took = asyncio.get_running_loop().time() - started
        assert took < 3, f"the shutdown waited {took:.1f} s for a stream that never ends"
        assert await asyncio.wait_for(response.content.read(), 3) == b"", "the viewer's stream ended"
        response.close()
    assert live.totals()["viewers"] == 0
