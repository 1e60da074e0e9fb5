"""The live view's routes (`LiveView`, `live.py`): a camera's annotated frames as an MJPEG
stream while the client stays, and one JPEG on demand.

    GET /api/v1/streams/{name}/live.mjpeg?width=N
    GET /api/v1/streams/{name}/frame.jpg?width=N&annotate=0|1
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from vigil.api.answers import refuse
from vigil.api.console.live import MIN_WIDTH, LiveView, Subscription

__all__ = ["BOUNDARY", "add_live_routes"]

BOUNDARY = "vigilframe"
# How often a stream with no new frame checks that its viewer is still connected (aiohttp does
# not cancel a handler when its client goes away, and a stalled camera sends nothing to fail on).
_IDLE_CHECK_S = 1.0
# A viewer whose connection has taken nothing for this long is let go (its encoder may stop).
_WRITE_TIMEOUT_S = 30.0


def add_live_routes(
    app: web.Application, live: LiveView, has_stream: Callable[[str], bool], max_streams: int | None = None
) -> None:
    """`GET /api/v1/streams/{name}/live.mjpeg?width=N` (multipart JPEGs while the client stays)
    and `GET /api/v1/streams/{name}/frame.jpg?width=N&annotate=0|1` (one JPEG). The app's
    shutdown ends the streams (`live.close()`). At most `max_streams` live.mjpeg streams at once
    (None: no limit): each holds a connection for as long as it is watched, and the API's
    connections are capped, so viewers must leave room for /healthz and the rest (a 503 beyond)."""
    streaming = 0

    async def live_mjpeg(request: web.Request) -> web.StreamResponse:
        nonlocal streaming
        name = _known(request, has_stream)
        width = _width(request, live.max_width)
        if max_streams is not None and streaming >= max_streams:
            raise _error(
                web.HTTPServiceUnavailable,
                f"{streaming} live views are open, as many as the API allows "
                "(half of api.max_connections); close one, or use frame.jpg",
            )
        streaming += 1
        try:
            response = web.StreamResponse(
                headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}", "Cache-Control": "no-store"}
            )
            await response.prepare(request)
            async with live.subscribe(name, width) as frames:
                await _stream(request, response, frames)
            return response
        finally:
            streaming -= 1

    async def frame_jpg(request: web.Request) -> web.StreamResponse:
        name = _known(request, has_stream)
        width = _width(request, live.max_width)
        annotate = request.query.get("annotate", "1")
        if annotate not in ("0", "1"):
            raise _error(web.HTTPBadRequest, f"annotate must be 0 or 1, got '{annotate[:20]}'")
        jpeg = await live.snapshot(name, width, annotate == "1")
        if jpeg is None:
            raise _error(web.HTTPServiceUnavailable, f"stream '{name}' has no frame yet")
        return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    app.router.add_get("/api/v1/streams/{name}/live.mjpeg", live_mjpeg, allow_head=False)  # HEAD would never end
    app.router.add_get("/api/v1/streams/{name}/frame.jpg", frame_jpg)

    async def end_streams(app: web.Application) -> None:
        live.close()  # else the server's shutdown waits its whole timeout for streams that never end

    app.on_shutdown.append(end_streams)


async def _stream(request: web.Request, response: web.StreamResponse, frames: Subscription) -> None:
    """One part per JPEG until the client goes or the stream ends."""
    while True:
        try:
            jpeg = await asyncio.wait_for(frames.__anext__(), _IDLE_CHECK_S)
        except asyncio.TimeoutError:
            if request.transport is None or request.transport.is_closing():
                return
            continue
        except StopAsyncIteration:
            return
        head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
        try:
            await asyncio.wait_for(response.write(head + jpeg + b"\r\n"), _WRITE_TIMEOUT_S)
        except (ConnectionError, asyncio.TimeoutError):  # the viewer closed the page, or stopped reading
            return


def _known(request: web.Request, has_stream: Callable[[str], bool]) -> str:
    name = request.match_info["name"]
    if not has_stream(name):
        raise _error(web.HTTPNotFound, f"no stream named '{name}'")
    return name


def _width(request: web.Request, max_width: int) -> int | None:
    raw = request.query.get("width")
    if raw is None or raw == "":
        return None
    # str.isdigit() also holds for '²' and other digits int() refuses: only ASCII digits, and few of them.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5) or not MIN_WIDTH <= int(raw) <= max_width:
        raise _error(
            web.HTTPBadRequest, f"width must be a whole number of pixels from {MIN_WIDTH} to {max_width}, got '{raw[:20]}'"
        )
    return int(raw)


def _error(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    return refuse(kind, message)
