"""The console's pages: `/` is the one-page console (`static/index.html`, its views chosen by
the URL's fragment), or the sign-in page (`static/login.html`, status 401) when the API needs a
token and the request has neither the console's cookie nor a bearer token. The scripts and the
style sheet are at `/console/static/<name>`, open to all: they hold no data, only the code that
asks the API for it.

Every page is sent with a Content-Security-Policy that allows this server's own scripts, styles,
images and media only (no inline script, nothing from elsewhere), and with `no-store` so a
signed-out browser does not show a stale console from its cache.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp import web

__all__ = ["STATIC", "add_page_routes"]

STATIC = Path(__file__).parent / "static"
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def add_page_routes(app: web.Application, signed_in: Callable[[web.Request], bool]) -> None:
    """`/` and `/console/static/{name}`; `signed_in(request)` says whether `/` shows the console
    or the sign-in page."""
    files = {p.name: p for p in STATIC.iterdir() if p.suffix in _TYPES} if STATIC.is_dir() else {}
    routes = web.RouteTableDef()

    @routes.get("/")
    async def index(request: web.Request) -> web.StreamResponse:
        page, status = ("index.html", 200) if signed_in(request) else ("login.html", 401)
        return _file(files, page, status)

    @routes.get("/console/static/{name}")
    async def static(request: web.Request) -> web.StreamResponse:
        return _file(files, request.match_info["name"], 200)

    app.add_routes(routes)


def _file(files: dict[str, Path], name: str, status: int) -> web.StreamResponse:
    path = files.get(name)  # only the files of the folder, by name: no path from a request reaches the disk
    if path is None:
        raise web.HTTPNotFound(text='{"error": "no such console file"}', content_type="application/json")
    headers = {**_HEADERS, "Content-Type": _TYPES[path.suffix] + ("; charset=utf-8" if path.suffix != ".png" else "")}
    return web.FileResponse(path, status=status, headers=headers)
