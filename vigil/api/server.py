"""The API's listening socket, and what keeps its clients from eating the process's descriptors.

Every connection costs a file descriptor, and the daemon's cameras, clips, snapshots and
spools need theirs: 260 connections opened and left silent once made a daemon under a 256
descriptor limit fail every `open()` with EMFILE, and /healthz stop answering. So:

- `raise_open_file_limit()` lifts the soft RLIMIT_NOFILE to the hard one at start (systemd and
  most shells give 1024 soft for a much higher hard limit), and logs both.
- At most `api.max_connections` connections are open at once, and never more than a quarter
  of the open-file limit. A new connection beyond that closes the open connection that has
  waited longest without a request in progress (one that never finished its headers first,
  by age), so fresh clients such as a liveness probe always get in; when every connection is
  busy with a request (live views), the new one gets a 503 and is closed. The accept backlog is
  bounded too, so a burst never accepts more than half the cap before the gate sees it.
- A connection gets `api.header_timeout_s` to send its first request's headers, after which it
  is closed. Later requests on a kept-alive connection get the same through aiohttp's
  `keepalive_timeout` (aiohttp has no header-read timeout of its own: its keep-alive timer is
  armed when a connection opens and after each response, and is not reset by partial data).
  Bodies are bounded by `vigil.api.input`.

The gate wraps aiohttp's protocol factory (`web.Server`): each connection's protocol is a small
`_Connection` that counts it, times its first headers and otherwise hands every call on to
aiohttp's `RequestHandler`; a middleware marks a connection busy while a request is handled.
A hit cap is logged at most every 10 s, with counts.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from aiohttp import web

from vigil.api.guard import Every
from vigil.config.api import ApiConfig

__all__ = ["ConnectionGate", "ApiServer", "raise_open_file_limit"]

log = logging.getLogger(__name__)

_BUSY_BODY = b'{"error": "too many connections to the API (api.max_connections); try again in a few seconds"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)


def raise_open_file_limit() -> tuple[int, int]:
    """Lift the soft open-file limit to the hard one; (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        log.info("open-file limit: %d (already the hard limit)", soft)
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("open-file limit stays %d: raising it to %d failed (%s)", soft, target, exc)
        return soft, soft
    log.info("open-file limit raised from %d to %d (the hard limit)", soft, target)
    return soft, target


class _Connection(asyncio.Protocol):
    """One API connection: counted by the gate, handed on to aiohttp's protocol once admitted."""

    def __init__(self, gate: ConnectionGate, inner: Any) -> None:
        self.gate, self.inner = gate, inner
        self.transport: asyncio.Transport | None = None
        self.admitted = False
        self.busy = 0  # requests being handled
        self.served = 0  # requests begun
        self.idle_since = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.gate.admit(self):
            transport.write(_BUSY)  # type: ignore[attr-defined]
            transport.close()
            return
        self.admitted = True
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.admitted:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.admitted else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate.forget(self)
        if self.admitted:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.admitted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.admitted:
            self.inner.resume_writing()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _headers_too_slow(self) -> None:
        self.timer = None
        if self.served == 0:
            self.gate.timed_out += 1
            self.gate._slow.warn(
                "management API: closed a connection that sent no whole request within api.header_timeout_s (%d so far)",
                self.gate.timed_out,
            )
            self.close()


class ConnectionGate:
    """Counts the API's connections and keeps them under `limit` (see the module's doc)."""

    def __init__(self, limit: int, header_timeout_s: float) -> None:
        self.limit, self.header_timeout_s = limit, header_timeout_s
        self.open: dict[_Connection, None] = {}  # in the order they came
        self.evicted = self.refused = self.timed_out = 0
        self._full = Every(logger=log)
        self._slow = Every(logger=log, level=logging.INFO)  # browsers' unused preconnections end this way too

    def protocol_factory(self, server: web.Server) -> Any:
        return lambda: _Connection(self, server())

    def admit(self, connection: _Connection) -> bool:
        loop = asyncio.get_running_loop()
        if len(self.open) >= self.limit:
            idle = [c for c in self.open if c.busy == 0]
            if not idle:
                self.refused += 1
                self._full.warn(
                    "management API: %d connections, all busy (api.max_connections): a new one was refused with a 503",
                    len(self.open),
                )
                return False
            # Those that never sent a whole request first, the longest-waiting first.
            victim = min(idle, key=lambda c: (c.served > 0, c.idle_since))
            self.forget(victim)
            victim.close()
            self.evicted += 1
            self._full.warn(
                "management API: %d connections (api.max_connections): closed the one idle longest "
                "(%d closed so far; many clients, or some that connect and say nothing)",
                self.limit,
                self.evicted,
            )
        connection.idle_since = loop.time()
        connection.timer = loop.call_later(self.header_timeout_s, connection._headers_too_slow)
        self.open[connection] = None
        return True

    def forget(self, connection: _Connection) -> None:
        self.open.pop(connection, None)
        if connection.timer is not None:
            connection.timer.cancel()
            connection.timer = None

    def middleware(self) -> Any:
        """Marks a connection busy while one of its requests is handled."""

        @web.middleware
        async def busy(request: web.Request, handler: Any) -> web.StreamResponse:
            transport = request.transport
            connection = transport.get_protocol() if transport is not None else None
            if not isinstance(connection, _Connection):
                response: web.StreamResponse = await handler(request)
                return response
            connection.busy += 1
            connection.served += 1
            if connection.timer is not None:
                connection.timer.cancel()
                connection.timer = None
            try:
                response = await handler(request)
                return response
            finally:
                connection.busy -= 1
                connection.idle_since = asyncio.get_running_loop().time()

        return busy


class ApiServer:
    """The API's aiohttp app served on `api.host`:`api.port` behind a ConnectionGate."""

    def __init__(self, app: web.Application, api: ApiConfig) -> None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        budget = soft // 4 if soft != resource.RLIM_INFINITY else api.max_connections
        self.limit = max(4, min(api.max_connections, budget))
        if self.limit < api.max_connections:
            log.warning(
                "management API: at most %d connections, not api.max_connections %d: a quarter of the open-file limit %d",
                self.limit,
                api.max_connections,
                soft,
            )
        self.gate = ConnectionGate(self.limit, api.header_timeout_s)
        app.middlewares.insert(0, self.gate.middleware())
        self.api = api
        # aiohttp's keep-alive timer also closes a kept-alive connection whose next headers are slow.
        self.runner = web.AppRunner(app, access_log=None, keepalive_timeout=api.header_timeout_s)
        self._server: asyncio.AbstractServer | None = None
        self.port: int = api.port

    async def start(self) -> None:
        await self.runner.setup()
        server = self.runner.server
        assert server is not None
        backlog = max(8, min(128, self.limit // 2))
        self._server = await asyncio.get_running_loop().create_server(
            self.gate.protocol_factory(server), self.api.host, self.api.port, backlog=backlog, reuse_address=True
        )
        sockets = self._server.sockets
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.api.port

    async def close(self) -> None:
        """Stop listening, then let aiohttp end the connections and the app."""
        if self._server is not None:
            self._server.close()
        await self.runner.cleanup()
