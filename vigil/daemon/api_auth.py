"""Who may use the management API and the console.

Without a token (the API on loopback) everything is open, as it always was. With one, every
route but `/healthz`, the console's static files and `POST /api/v1/session` needs either

- `Authorization: Bearer <token>` (scripts, Prometheus, an orchestrator), or
- the console's session cookie: the page asks for the token once and posts it to
  `POST /api/v1/session`, which answers with `vigil_session`, an HttpOnly, SameSite=Strict
  cookie. Its value is an HMAC of the token under a key drawn when the process starts, never the
  token: it is worthless after a restart or a token change, and the token itself never sits in
  the browser, in a URL or in a log.

Writes made with the cookie (POST, PUT, PATCH, DELETE) must also carry `X-Vigil-Console: 1`,
a header another site's page cannot add to a cross-site request without a CORS preflight this
server never grants, and an `Origin`, when the browser sends one, that is this server's own.
Together with SameSite=Strict that keeps forged requests out (CSRF). A bearer request needs
neither: it cannot come from a browser by accident.

`/` itself is the console's own business (`vigil.console.pages`): without auth it answers with
the login page, so the middleware lets it through and records how the request was authenticated
in `request["auth"]` (None: not at all).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from typing import Any, Literal
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["AUTH_KEY", "COOKIE", "CSRF_HEADER", "Auth", "AuthMethod"]

log = logging.getLogger(__name__)

COOKIE = "vigil_session"
CSRF_HEADER = "X-Vigil-Console"
AuthMethod = Literal["none", "bearer", "cookie"]
# request[AUTH_KEY]: how the request was authenticated (None: not at all)
AUTH_KEY: web.RequestKey[str | None] = web.RequestKey("vigil_auth")

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OPEN_PATHS = frozenset({"/healthz"})
_OPEN_PREFIXES = ("/console/static/",)
_PAGES = frozenset({"/"})  # answer the login page themselves when not authenticated
_SESSION_PATH = "/api/v1/session"


class Auth:
    """The token rule of one API server (`token` None: open)."""

    def __init__(self, token: str | None) -> None:
        self.required = bool(token)
        self._bearer = f"Bearer {token}".encode() if token else b""
        self._token = token.encode() if token else b""
        self._session = hmac.new(secrets.token_bytes(32), self._token, hashlib.sha256).hexdigest() if token else ""

    def method(self, request: web.Request) -> AuthMethod | None:
        """How `request` is authenticated: "none" when no token is needed, None when it is not."""
        if not self.required:
            return "none"
        # aiohttp decodes header bytes that are not UTF-8 as surrogates: encode them back rather
        # than fail, so any malformed header is simply a wrong token.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if given and hmac.compare_digest(given, self._bearer):
            return "bearer"
        cookie = request.cookies.get(COOKIE, "").encode("utf-8", "surrogateescape")
        if cookie and hmac.compare_digest(cookie, self._session.encode()):
            return "cookie"
        return None

    def token_matches(self, given: str) -> bool:
        return self.required and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._token)

    def middleware(self) -> Any:
        @web.middleware
        async def check(request: web.Request, handler: Any) -> web.StreamResponse:
            method = self.method(request)
            request[AUTH_KEY] = method
            if method is None and not _open(request):
                raise _refuse(401, "missing or wrong bearer token (or console session): sign in at / or send "
                                   "Authorization: Bearer <token>")
            if method == "cookie" and request.method not in _SAFE_METHODS:
                try:
                    _check_csrf(request)
                except web.HTTPForbidden:
                    log.warning("refused %s %s from %s: a console write without the console's header or from "
                                "another site's page", request.method, request.path, request.remote)
                    raise
            response: web.StreamResponse = await handler(request)
            return response

        return check

    def add_routes(self, app: web.Application) -> None:
        """`/api/v1/session`: sign in with the token (a cookie), ask how you are signed in, sign out."""
        routes = web.RouteTableDef()

        @routes.post(_SESSION_PATH)
        async def sign_in(request: web.Request) -> web.Response:
            # The page's script posts JSON; a plain form post (the script not loaded yet) is taken
            # too and answered with a redirect to the console, so the token never lands in a URL.
            form = request.content_type == "application/x-www-form-urlencoded"
            if not self.required:
                return _signed_in(form)  # nothing to sign in to
            token = await _given_token(request, form)
            if token is None or not self.token_matches(token.strip()):
                log.warning("console sign-in refused from %s: wrong token", request.remote)  # never the token given
                raise _refuse(401, "wrong token: give the API's token (api.token_file of the daemon's configuration)")
            response = _signed_in(form)
            response.set_cookie(COOKIE, self._session, httponly=True, samesite="Strict", path="/", secure=request.secure)
            return response

        @routes.get(_SESSION_PATH)
        async def who(request: web.Request) -> web.Response:
            return web.json_response({"auth": request.get(AUTH_KEY), "token_required": self.required})

        @routes.delete(_SESSION_PATH)
        async def sign_out(request: web.Request) -> web.Response:
            response = web.Response(status=204)
            response.del_cookie(COOKIE, path="/")
            return response

        app.add_routes(routes)


async def _given_token(request: web.Request, form: bool) -> str | None:
    try:
        body: Any = await request.post() if form else await request.json()
    except ValueError:
        return None
    token = body.get("token") if hasattr(body, "get") else None
    return token if isinstance(token, str) else None


def _signed_in(form: bool) -> web.Response:
    return web.Response(status=303, headers={"Location": "/"}) if form else web.Response(status=204)


def _open(request: web.Request) -> bool:
    path = request.path
    return (path in _OPEN_PATHS or path in _PAGES or path.startswith(_OPEN_PREFIXES)
            or (path == _SESSION_PATH and request.method == "POST"))


def _check_csrf(request: web.Request) -> None:
    if request.path == _SESSION_PATH:
        return  # signing in or out again with a cookie in place changes nothing another site could use
    if request.headers.get(CSRF_HEADER) != "1":
        raise _refuse(403, f"a change made with the console's cookie needs the header {CSRF_HEADER}: 1 "
                           "(scripts: use Authorization: Bearer <token>)")
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise _refuse(403, "this change comes from another site's page (Origin does not match); refused")


def _refuse(status: int, message: str) -> web.HTTPException:
    kind: type[web.HTTPException] = web.HTTPUnauthorized if status == 401 else web.HTTPForbidden
    return kind(text=json.dumps({"error": message}), content_type="application/json")
