"""Who may use the management API and the console.

Every request first passes the rules of `vigil.api.guard` (the Host header names this
server; a write is JSON and carries the console's header or this server's Origin), unless it
carries the bearer token. Without a token (the API on loopback) that is all. With one, every
route but `/healthz`, the console's static files and `POST /api/v1/session` needs either

- `Authorization: Bearer <token>` (scripts, Prometheus, an orchestrator), or
- the console's session cookie: the page asks for the token once and posts it to
  `POST /api/v1/session`, which answers with `vigil_session`, an HttpOnly, SameSite=Strict
  cookie holding a random session id the server keeps (`vigil.api.sessions`): a new one
  at every sign-in, ended by signing out (`DELETE /api/v1/session`), by `api.session_idle_s`
  without use or `api.session_max_age_s` after it began, and by a restart. The token itself never
  sits in the browser, in a URL or in a log.

A bearer request needs neither the console's header nor this server's Origin for a write: it
cannot come from a browser by accident, and a page cannot know the token. Signing in and out
(`/api/v1/session`) is exempt from the write rule: the sign-in is a plain form post when the
page's script has not loaded yet, and changes nothing without the right token.

`/` itself is the console's own business (`vigil.api.console.pages`): without auth it answers with
the login page, so the middleware lets it through and records how the request was authenticated
in `request["auth"]` (None: not at all).
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from vigil.api.answers import answer, refuse
from vigil.api.guard import CSRF_HEADER, WRITES, Guard
from vigil.api.models import AuthMethod, SessionInfo, SignIn
from vigil.api.sessions import Sessions
from vigil.config.api import ApiConfig

__all__ = ["AUTH_KEY", "COOKIE", "CSRF_HEADER", "SESSION_PATH", "Auth"]

log = logging.getLogger(__name__)

COOKIE = "vigil_session"
# request[AUTH_KEY]: how the request was authenticated (None: not at all)
AUTH_KEY: web.RequestKey[AuthMethod | None] = web.RequestKey("vigil_auth")

_OPEN_PATHS = frozenset({"/healthz"})
_OPEN_PREFIXES = ("/console/static/",)
_PAGES = frozenset({"/"})  # answer the login page themselves when not authenticated
SESSION_PATH = "/api/v1/session"


class Auth:
    """The token rule of one API server (`token` None: open), with the Host and write rules and
    the console's sessions of `api` (its defaults when None)."""

    def __init__(self, token: str | None, api: ApiConfig | None = None) -> None:
        api = api or ApiConfig()
        self.required = bool(token)
        self._bearer = f"Bearer {token}".encode() if token else b""
        self._token = token.encode() if token else b""
        self.guard = Guard(api.host, api.allowed_hosts)
        self.sessions = Sessions(api.session_idle_s, api.session_max_age_s, api.max_sessions)
        self._cookie_age = int(api.session_max_age_s)

    def method(self, request: web.Request) -> AuthMethod | None:
        """How `request` is authenticated: "none" when no token is needed, None when it is not."""
        if not self.required:
            return "none"
        # aiohttp decodes header bytes that are not UTF-8 as surrogates: encode them back rather
        # than fail, so any malformed header is simply a wrong token.
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if given and hmac.compare_digest(given, self._bearer):
            return "bearer"
        if self.sessions.valid(request.cookies.get(COOKIE, "")):
            return "cookie"
        return None

    def token_matches(self, given: str) -> bool:
        return self.required and hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._token)

    def middleware(self) -> Any:
        @web.middleware
        async def check(request: web.Request, handler: Any) -> web.StreamResponse:
            method = self.method(request)
            request[AUTH_KEY] = method
            if request.path not in _OPEN_PATHS:  # token or not: a page of a rebound name never gets in
                self.guard.check_host(request)
            if method is None and not _open(request):
                raise _refuse(
                    401, "missing or wrong bearer token (or console session): sign in at / or send Authorization: Bearer <token>"
                )
            if method != "bearer" and request.method in WRITES and request.path != SESSION_PATH:
                self.guard.check_write(request)
            response: web.StreamResponse = await handler(request)
            return response

        return check

    def add_routes(self, app: web.Application) -> None:
        """`/api/v1/session`: sign in with the token (a cookie), ask how you are signed in, sign out."""
        routes = web.RouteTableDef()

        @routes.post(SESSION_PATH)
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
            response.set_cookie(
                COOKIE,
                self.sessions.start(),
                httponly=True,
                samesite="Strict",
                path="/",
                secure=request.secure,
                max_age=self._cookie_age,
            )
            return response

        @routes.get(SESSION_PATH)
        async def who(request: web.Request) -> web.Response:
            return answer(SessionInfo(auth=request.get(AUTH_KEY), token_required=self.required))

        @routes.delete(SESSION_PATH)
        async def sign_out(request: web.Request) -> web.Response:
            self.sessions.end(request.cookies.get(COOKIE, ""))  # the cookie is worthless from now on, kept or not
            response = web.Response(status=204)
            response.del_cookie(COOKIE, path="/")
            return response

        app.add_routes(routes)


async def _given_token(request: web.Request, form: bool) -> str | None:
    try:
        body: Any = await request.post() if form else await request.json()
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return None
    try:  # a form's fields, or the JSON object (SignIn: its token a string)
        return SignIn.model_validate({"token": body.get("token")} if hasattr(body, "get") else body).token
    except ValidationError:
        return None


def _signed_in(form: bool) -> web.Response:
    return web.Response(status=303, headers={"Location": "/"}) if form else web.Response(status=204)


def _open(request: web.Request) -> bool:
    path = request.path
    return path in _OPEN_PATHS or path in _PAGES or path.startswith(_OPEN_PREFIXES) or _signing_in(request)


def _signing_in(request: web.Request) -> bool:
    return request.path == SESSION_PATH and request.method == "POST"


def _refuse(status: int, message: str) -> web.HTTPException:
    return refuse(web.HTTPUnauthorized if status == 401 else web.HTTPForbidden, message)
