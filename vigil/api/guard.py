"""What keeps other web pages out of the API, token or not (`vigil.api.auth` applies it).

A browser sends a page's requests with the user's network position and cookies, so "on
loopback" is no protection by itself:

- **DNS rebinding**: a page at http://evil.test:8080/ whose name the attacker re-points at
  127.0.0.1 reads the API as its own origin. Its requests say `Host: evil.test:8080`, so a request
  whose Host names anything but a loopback name (localhost, 127.0.0.1, [::1]), `api.host` or
  `api.allowed_hosts` is refused with a 421. A Host that is an IP address cannot come from a
  rebinding (nothing resolved it), so when the API listens on every address (0.0.0.0, ::) any
  IP address is taken too. A request without a Host header (HTTP/1.0 scripts) does not come from a
  browser and passes. `/healthz` answers whatever the Host (liveness probes): it tells nothing.
- **Cross-site writes**: a page elsewhere can POST text/plain, a form or nothing at all without
  asking (a "simple" request, `fetch(..., {mode: 'no-cors'})`). So every write (POST, PUT, PATCH,
  DELETE) with a body must be `Content-Type: application/json`, which another site's page cannot
  send without a CORS preflight this server never grants, and must carry either the console's
  header `X-Vigil-Console: 1` (the same: a preflight) or an `Origin` that is this server's own; an
  `Origin` from elsewhere is refused even with the header. Scripts send the header, or the
  bearer token, which needs neither (a page cannot know the token).

The Host rule holds for bearer requests too (a name not listed is a misconfiguration or an
attack either way); signing in and out (`/api/v1/session`) is exempt from the write rule.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web

from vigil.api.answers import refuse

__all__ = ["CSRF_HEADER", "Every", "Guard"]

log = logging.getLogger(__name__)

CSRF_HEADER = "X-Vigil-Console"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::"})
_LOOPBACK_NAMES = frozenset({"localhost"})


class Every:
    """Rate-limited logging: `warn(...)` logs at most once per `period_s`, and says how many it held back."""

    def __init__(self, period_s: float = 10.0, logger: logging.Logger = log, level: int = logging.WARNING) -> None:
        self.period_s, self.log, self.level = period_s, logger, level
        self._last = -period_s
        self._held = 0

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self.period_s:
            self._held += 1
            return
        held, self._held, self._last = self._held, 0, now
        self.log.log(self.level, message + (f" ({held} more like it in the last {self.period_s:.0f} s)" if held else ""), *args)


class Guard:
    """The Host and write rules of one API server listening on `host`."""

    def __init__(self, host: str, allowed_hosts: Iterable[str] = ()) -> None:
        listen = host.strip().lower().removeprefix("[").removesuffix("]")
        self.any_ip = listen in _ANY_ADDRESS
        self.hosts = frozenset(_LOOPBACK_NAMES | {listen, *(h.lower() for h in allowed_hosts)}) - _ANY_ADDRESS
        self._refused_hosts = Every()
        self._refused_writes = Every()

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request with this Host header may be answered."""
        if header is None:
            return True
        name = _host_name(header)
        if name is None:
            return False
        if name in self.hosts:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        return address.is_loopback or self.any_ip

    def check_host(self, request: web.Request) -> None:
        header = request.headers.get("Host")
        if self.host_allowed(header):
            return
        shown = (header or "")[:80]
        self._refused_hosts.warn(
            "refused %s %s from %s: Host '%s' is not this server's name (DNS rebinding?); add it to api.allowed_hosts if it is",
            request.method,
            request.path,
            request.remote,
            shown,
        )
        raise refuse(
            web.HTTPMisdirectedRequest,
            f"this server does not answer to the host '{shown}': use "
            "http://127.0.0.1 or http://localhost, or add the name to api.allowed_hosts",
        )

    def check_write(self, request: web.Request) -> None:
        """The write rule for a request without the bearer token."""
        if request.body_exists and request.content_type != "application/json":
            self._refused_writes.warn(
                "refused %s %s from %s: a body of type '%s', not JSON",
                request.method,
                request.path,
                request.remote,
                request.content_type[:60],
            )
            raise refuse(
                web.HTTPUnsupportedMediaType,
                f"{request.method} {request.path} takes a JSON body: send Content-Type: application/json",
            )
        origin = request.headers.get("Origin")
        if origin is not None and not _same_origin(origin, request.headers.get("Host")):
            self._refused_writes.warn(
                "refused %s %s from %s: a write from another site's page (Origin %s)",
                request.method,
                request.path,
                request.remote,
                origin[:80],
            )
            raise refuse(web.HTTPForbidden, "this change comes from another site's page (its Origin is not this server); refused")
        if origin is None and request.headers.get(CSRF_HEADER) != "1":
            self._refused_writes.warn(
                "refused %s %s from %s: a write without the console's header or the token",
                request.method,
                request.path,
                request.remote,
            )
            raise refuse(
                web.HTTPForbidden,
                f"a change needs the header {CSRF_HEADER}: 1 (or, when the API has a token, Authorization: Bearer <token>)",
            )


def _host_name(header: str) -> str | None:
    """The host of a Host header, lower case, without port or brackets (None: malformed)."""
    try:
        parts = urlsplit("//" + header)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return None
    name = parts.hostname
    if not name or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return name.removesuffix(".")


def _same_origin(origin: str, host: str | None) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return host is not None and parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
