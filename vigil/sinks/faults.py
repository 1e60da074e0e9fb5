"""Write faults of the sinks and clips: what an error means, how long to wait, what was lost.

Every resource a writer needs runs out some day (the disk, a quota, descriptors, memory). A
sink that meets such an error keeps running: it counts the failed write, drops or holds what
it could not write (counted by reason), waits a short backoff, tries again, and says so in
`/readyz` until a write succeeds. Errors that are no shortage (a permission, a bug) are
treated the same way with a longer backoff, so nothing stops for good.

    faults = Faults("snapshots")
    try:
        write(...)
    except Exception as exc:
        faults.dropped(faults.failed(exc, where=directory).reason)
    else:
        faults.recovered()
    faults.health()  # SinkHealth(False, "disk full (ENOSPC) on /var/... since 12 s: retrying; 40 dropped")
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil.errors import SinkError
from vigil.sinks.base import SinkHealth

__all__ = ["Fault", "FaultLog", "Faults", "classify", "os_error"]

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 30.0  # at most one report per sink and reason this often, with counts since the last
TRANSIENT_BACKOFF = (0.25, 5.0)  # first wait and longest wait (doubling) after a shortage
OTHER_BACKOFF = (1.0, 60.0)  # after an error that is no shortage (a permission, a bug)

# errno -> (metric reason, what it is): shortages that go away by themselves or when someone
# frees space, closes files or fixes a flaky disk.
_TRANSIENT: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("disk_full", "disk full"),
    errno.EDQUOT: ("quota_exceeded", "disk quota exceeded"),
    errno.EMFILE: ("too_many_open_files", "too many open files"),
    errno.ENFILE: ("too_many_open_files", "too many open files in the system"),
    errno.EIO: ("io_error", "input/output error"),
    errno.ENOMEM: ("out_of_memory", "out of memory"),
    errno.ENOBUFS: ("out_of_memory", "no buffer space"),
    errno.EAGAIN: ("busy", "resource temporarily unavailable"),
    errno.EBUSY: ("busy", "device busy"),
    errno.EINTR: ("busy", "interrupted"),
    errno.ETIMEDOUT: ("busy", "timed out"),
    errno.ESTALE: ("io_error", "stale file handle"),
    errno.EROFS: ("read_only", "file system read-only"),
}


@dataclass(frozen=True)
class Fault:
    """What one error means: `reason` (the `reason` label of `vigil_sink_dropped_total`),
    `what` (for people: "disk full (ENOSPC)"), whether it is a `transient` shortage, `where`
    (the path it names, if any) and `detail` (the error's message)."""

    reason: str
    what: str
    transient: bool
    where: str | None
    detail: str


def os_error(exc: BaseException) -> OSError | None:
    """The OSError behind `exc` (itself, or its cause or context: a `SinkError` raised from one)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno is not None:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def classify(exc: BaseException, where: str | Path | None = None) -> Fault:
    """The `Fault` that `exc` is: a shortage by its errno (ENOSPC, EMFILE, EIO ...), another
    OSError (`write_error`), or anything else (`error`: most likely a bug)."""
    found = os_error(exc)
    if found is None:
        if isinstance(exc, SinkError):  # a failure the sink described (a planted link ...)
            return Fault("write_error", "write error", False, _where(None, where), str(exc))
        return Fault("error", type(exc).__name__, False, _where(None, where), str(exc))
    code = found.errno or 0
    name = errno.errorcode.get(code, str(code))
    path = _where(found, where)
    if code in _TRANSIENT:
        reason, what = _TRANSIENT[code]
        return Fault(reason, f"{what} ({name})", True, path, str(exc))
    return Fault("write_error", f"{found.strerror or 'error'} ({name})", False, path, str(exc))


def _where(exc: OSError | None, where: str | Path | None) -> str | None:
    if exc is not None and exc.filename:
        return str(exc.filename)
    return None if where is None else str(where)


class FaultLog:
    """Logs a report at most once per `interval_s` per key, saying how many were held back."""

    def __init__(
        self, logger: logging.Logger = log, interval_s: float = LOG_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logger, self._interval, self._clock = logger, interval_s, clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def log(self, key: str, level: int, msg: str, *args: object, exc_info: BaseException | None = None) -> bool:
        """Log `msg % args` unless `key` was logged less than `interval_s` ago; True if logged."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
        if held:
            msg += f" ({held} more like it in the last {self._interval:.0f} s)"
        self._logger.log(level, msg, *args, exc_info=exc_info)
        return True


class Faults:
    """The write faults of one sink (or one camera's clips) named `name`: failed writes
    (`errors`, `last_error`), what was dropped by reason, the fault going on now and the
    backoff before the next attempt. Safe to update from a writer thread and read on the loop."""

    def __init__(
        self, name: str, *, label: str = "sink", logger: logging.Logger = log, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name, self._label, self._clock = name, label, clock
        self._log = FaultLog(logger, clock=clock)
        self._logger = logger
        self._lock = threading.Lock()
        self._dropped: dict[str, int] = {}
        self.errors = 0
        self.last_error: str | None = None
        self.current: Fault | None = None
        self._since = 0.0
        self._attempt = 0
        self._next_try = 0.0
        self._dropped_during = 0

    # -- counting -----------------------------------------------------------------------------

    def dropped(self, reason: str, n: int = 1) -> None:
        """Count `n` records lost for `reason` ("queue_full", "disk_full" ...)."""
        if n <= 0:
            return
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + n
            if self.current is not None:
                self._dropped_during += n

    def declare(self, *reasons: str) -> None:
        """Reasons shown at 0 until something is dropped for them (so metrics have the series)."""
        with self._lock:
            for reason in reasons:
                self._dropped.setdefault(reason, 0)

    @property
    def dropped_by_reason(self) -> dict[str, int]:
        with self._lock:
            return dict(self._dropped)

    @property
    def total_dropped(self) -> int:
        with self._lock:
            return sum(self._dropped.values())

    # -- the fault going on now ---------------------------------------------------------------

    def failed(self, exc: BaseException, where: str | Path | None = None) -> Fault:
        """Count a failed write, start (or extend) the backoff and report it, rate-limited."""
        fault = classify(exc, where)
        now = self._clock()
        with self._lock:
            self.errors += 1
            self.last_error = f"{fault.what}{_on(fault.where)}: {fault.detail}"
            if self.current is None:
                self._since, self._attempt, self._dropped_during = now, 0, 0
            self.current = fault
            self._attempt += 1
            first, longest = TRANSIENT_BACKOFF if fault.transient else OTHER_BACKOFF
            delay = min(longest, first * 2 ** (self._attempt - 1))
            self._next_try = now + delay
            dropped = self._dropped_during
        self._log.log(
            f"{fault.reason}",
            logging.WARNING if fault.transient else logging.ERROR,
            "%s '%s': %s%s: %s; retrying in %.1f s (%d dropped since it began, %d failed write(s) in all)",
            self._label,
            self.name,
            fault.what,
            _on(fault.where),
            fault.detail,
            delay,
            dropped,
            self.errors,
            exc_info=exc if fault.reason == "error" else None,  # a bug: say where
        )
        return fault

    def recovered(self) -> None:
        """A write succeeded: the fault (if any) is over."""
        if self.current is None:
            return
        with self._lock:
            fault, lasted, dropped = self.current, self._clock() - self._since, self._dropped_during
            self.current, self._attempt, self._next_try = None, 0, 0.0
        self._logger.info(
            "%s '%s': writing again after %s for %.0f s (%d dropped meanwhile)",
            self._label,
            self.name,
            fault.what,
            lasted,
            dropped,
        )

    @property
    def faulted(self) -> bool:
        return self.current is not None

    def failing_for(self) -> float | None:
        """Seconds since the fault going on now began; None when there is none."""
        return None if self.current is None else self._clock() - self._since

    def waiting(self) -> bool:
        """Whether the backoff after the last failure still runs (do not try to write yet)."""
        return self.current is not None and self._clock() < self._next_try

    def delay(self) -> float:
        """Seconds left of the backoff (0 when a write may be tried now)."""
        return max(0.0, self._next_try - self._clock()) if self.current is not None else 0.0

    def health(self, waiting: str = "") -> SinkHealth | None:
        """Not ok while a fault lasts: `disk full (ENOSPC) on /path since 12 s: retrying; 40
        dropped` (`waiting` adds what is held for retry); None when there is no fault."""
        with self._lock:
            fault, since, dropped = self.current, self._since, self._dropped_during
        if fault is None:
            return None
        extra = f", {waiting}" if waiting else ""
        lasting = f"since {self._clock() - since:.0f} s: retrying; {dropped} dropped{extra}"
        if fault.transient:
            return SinkHealth(False, f"{fault.what}{_on(fault.where)} {lasting}")
        return SinkHealth(False, f"{fault.detail} ({fault.what}, failing {lasting})")


def _on(where: str | None) -> str:
    return f" on {where}" if where else ""
