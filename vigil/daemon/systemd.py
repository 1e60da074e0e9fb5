"""Talking to systemd: the sd_notify protocol, spoken directly, and a progress-gated watchdog.

The protocol is one datagram of `KEY=value` lines sent to the AF_UNIX socket named by
`$NOTIFY_SOCKET` (sd_notify(3)). It is small enough that a dependency (python-systemd needs
libsystemd headers to build, which an edge box rarely has) buys nothing. Outside systemd the
variable is unset and every call is a no-op, so the daemon calls these unconditionally.

Example::

    notifier = Notifier.from_env(unset=True)      # children must not ping on our behalf
    notifier.extend_timeout(120)                    # a TensorRT engine build is about to start
    ...
    notifier.ready()
    interval = notifier.watchdog_interval()
    if interval is not None:
        await stack.enter_async_context(Watchdog(notifier, interval, heartbeat.recent))
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, MutableMapping
from types import TracebackType

__all__ = ["Heartbeat", "Notifier", "Watchdog"]

log = logging.getLogger(__name__)

_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """Sends state changes to the service manager; a no-op when `address` is None.

    Sending never raises: a manager that went away (socket removed, queue full) must not take
    the daemon down with it. The first failure of a run of failures is logged as a warning, the
    rest at debug level, and a later success re-arms the warning.
    """

    def __init__(self, address: str | None, watchdog_interval_s: float | None = None) -> None:
        self._address = address
        self._watchdog_interval_s = watchdog_interval_s
        self._socket: socket.socket | None = None
        self._failing = False

    @classmethod
    def from_env(cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = False) -> Notifier:
        """Read `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` now (default: `os.environ`).

        `unset=True` removes them afterwards (like sd_notify's `unset_environment`), so that
        processes the daemon starts do not inherit the socket and ping in its name.
        """
        env = os.environ if environ is None else environ
        notifier = cls(_socket_address(env.get("NOTIFY_SOCKET")), _watchdog_interval(env))
        if unset:
            for name in _VARIABLES:
                env.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        """Whether a service manager is listening at all."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """`WatchdogSec=` in seconds when systemd expects pings from this process, else None.
        Ping at half of it (`Watchdog` does)."""
        return self._watchdog_interval_s

    def notify(self, **fields: str | int) -> bool:
        """Send `KEY=value` fields in one datagram; True when it was handed to the socket.

        A newline inside a value would start a field of its own, so it becomes a space.
        """
        if self._address is None or not fields:
            return False
        message = "\n".join(f"{key}={str(value).replace(chr(10), ' ')}" for key, value in fields.items())
        try:
            self._connect().sendto(message.encode(), self._address)
        except OSError as exc:
            self._failed(exc)
            return False
        self._failing = False
        return True

    def ready(self) -> bool:
        """Startup is finished: systemd considers the unit started (`Type=notify`)."""
        return self.notify(READY=1)

    def status(self, text: str) -> bool:
        """A one-line status shown by `systemctl status`."""
        return self.notify(STATUS=text)

    def reloading(self) -> bool:
        """A reload began; send `ready()` when it is done. systemd >= 253 requires the
        CLOCK_MONOTONIC timestamp (`Type=notify-reload`) to tell this reload from an older one."""
        return self.notify(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def stopping(self) -> bool:
        """Shutdown began; systemd stops expecting watchdog pings for the stop timeout."""
        return self.notify(STOPPING=1)

    def watchdog(self) -> bool:
        """One keep-alive ping."""
        return self.notify(WATCHDOG=1)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for `seconds` more before the current start/stop/watchdog timeout fires, e.g. while
        a model is being built. Repeat it before that time runs out to keep extending."""
        if seconds <= 0:
            raise ValueError(f"extend_timeout: seconds must be positive, got {seconds}")
        return self.notify(EXTEND_TIMEOUT_USEC=int(seconds * 1_000_000))

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _connect(self) -> socket.socket:
        # Non-blocking: a full receive queue in systemd must never stall the event loop.
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        return self._socket

    def _failed(self, exc: OSError) -> None:
        if self._failing:
            log.debug("systemd notification to %s failed again: %s", self._printable_address, exc)
            return
        self._failing = True
        log.warning(
            "systemd notification to %s failed: %s; the service manager may consider the daemon "
            "hung (further failures are logged at debug level)",
            self._printable_address,
            exc,
        )

    @property
    def _printable_address(self) -> str:
        return (self._address or "").replace("\0", "@", 1)


def _socket_address(value: str | None) -> str | None:
    """The address to send to: a path, or `@name` for the abstract namespace (a leading NUL)."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    log.warning("NOTIFY_SOCKET=%r is neither a path nor @abstract; systemd notifications are off", value)
    return None


def _watchdog_interval(environ: MutableMapping[str, str]) -> float | None:
    """sd_watchdog_enabled(3): `WATCHDOG_USEC`, valid only for the PID in `WATCHDOG_PID` when set
    (a child that inherited the variables must not believe it is watched)."""
    usec, pid = environ.get("WATCHDOG_USEC"), environ.get("WATCHDOG_PID")
    if not usec:
        return None
    try:
        interval_us = int(usec)
        if pid and int(pid) != os.getpid():
            return None
    except ValueError:
        log.warning("WATCHDOG_USEC=%r / WATCHDOG_PID=%r are not integers; watchdog off", usec, pid)
        return None
    return interval_us / 1_000_000 if interval_us > 0 else None


class Heartbeat:
    """The usual progress check: "something useful happened within the last `max_age_s`".

    The daemon calls `beat()` when a batch completes and, while it is idle but healthy (every
    source waiting for frames), from its housekeeping; `recent` is what `Watchdog` asks.
    """

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._last = time.monotonic()

    def beat(self) -> None:
        self._last = time.monotonic()

    def recent(self) -> bool:
        return time.monotonic() - self._last <= self.max_age_s


class Watchdog:
    """Pings systemd every `interval_s / 2`, but only while `progress()` returns True.

    A plain timer would keep a deadlocked pipeline alive: the event loop can run while every
    frame is stuck. Withholding the ping lets systemd kill and restart the daemon after
    `WatchdogSec=`. A progress check that raises counts as no progress. Use it as an async
    context manager (it fits an `AsyncExitStack`) or run `run()` as a task yourself.
    """

    def __init__(self, notifier: Notifier, interval_s: float, progress: Callable[[], bool]) -> None:
        if interval_s <= 0:
            raise ValueError(f"Watchdog: interval_s must be positive, got {interval_s}")
        self._notifier = notifier
        self._period_s = interval_s / 2
        self._progress = progress
        self._task: asyncio.Task[None] | None = None
        self.withholding = False

    async def run(self) -> None:
        """Ping until cancelled."""
        while True:
            if self._made_progress():
                if self.withholding:
                    log.info("watchdog: progress again, pinging systemd")
                    self.withholding = False
                self._notifier.watchdog()
            elif not self.withholding:
                self.withholding = True
                log.warning(
                    "watchdog: no progress, withholding the ping; systemd restarts the daemon "
                    "unless progress resumes within WatchdogSec (%.1fs)",
                    self._period_s * 2,
                )
            await asyncio.sleep(self._period_s)

    def _made_progress(self) -> bool:
        try:
            return bool(self._progress())
        except Exception:
            if not self.withholding:
                log.exception("watchdog: the progress check failed; counted as no progress")
            return False

    async def __aenter__(self) -> Watchdog:
        self._task = asyncio.create_task(self.run(), name="systemd-watchdog")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            # wait() rather than awaiting the task: its CancelledError is expected, while a
            # cancellation of the caller itself must still propagate.
            await asyncio.wait([self._task])
            self._task = None
