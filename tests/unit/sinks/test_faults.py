"""`vigil.sinks.faults`: what an error means, the backoff after it, the reports it makes (at
most one per 30 s per reason, with a count of what was held back) and the health it gives."""

from __future__ import annotations

import errno
import logging

import pytest

from vigil.errors import SinkError
from vigil.sinks.faults import Faults, classify


def wrapped(code: int) -> SinkError:
    """A SinkError raised from an OSError, as the sinks raise them."""
    try:
        try:
            raise OSError(code, "boom", "/data/out")
        except OSError as exc:
            raise SinkError("sink 'x': cannot write") from exc
    except SinkError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "reason", "transient", "what"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "disk_full", True, "disk full (ENOSPC)"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "quota_exceeded", True, "disk quota exceeded (EDQUOT)"),
        (OSError(errno.EMFILE, "Too many open files"), "too_many_open_files", True, "too many open files (EMFILE)"),
        (
            OSError(errno.ENFILE, "Too many open files in system"),
            "too_many_open_files",
            True,
            "too many open files in the system (ENFILE)",
        ),
        (OSError(errno.EIO, "Input/output error"), "io_error", True, "input/output error (EIO)"),
        (OSError(errno.ENOMEM, "Cannot allocate memory"), "out_of_memory", True, "out of memory (ENOMEM)"),
        (OSError(errno.EAGAIN, "Resource temporarily unavailable"), "busy", True, "resource temporarily unavailable (EAGAIN)"),
        (wrapped(errno.ENOSPC), "disk_full", True, "disk full (ENOSPC)"),
        (OSError(errno.EACCES, "Permission denied"), "write_error", False, "Permission denied (EACCES)"),
        (SinkError("sink 'x': /a is a symbolic link"), "write_error", False, "write error"),
        (RuntimeError("a bug"), "error", False, "RuntimeError"),
    ],
)
def test_classify_names_the_reason_of_each_error(exc, reason, transient, what):
    fault = classify(exc)
    assert (fault.reason, fault.transient, fault.what) == (reason, transient, what)


def test_the_path_comes_from_the_error_or_the_caller():
    assert classify(wrapped(errno.ENOSPC)).where == "/data/out"
    assert classify(OSError(errno.ENOSPC, "full"), "/var/lib/vigil").where == "/var/lib/vigil"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_and_a_success_ends_the_fault():
    clock = Clock()
    faults = Faults("snaps", clock=clock)
    waits = []
    for _ in range(6):
        faults.failed(OSError(errno.ENOSPC, "full"))
        waits.append(faults.delay())
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0]  # doubling, capped
    assert faults.waiting()
    clock.now += 5.0
    assert not faults.waiting()
    faults.recovered()
    assert faults.current is None and faults.health() is None and faults.errors == 6
    faults.failed(RuntimeError("a bug"))
    assert faults.delay() == 1.0  # another kind of error starts a longer backoff


def test_reports_are_rate_limited_per_reason_with_a_count(caplog):
    clock = Clock()
    faults = Faults("snaps", clock=clock)
    with caplog.at_level(logging.WARNING, logger="vigil.sinks.faults"):
        for _ in range(50):
            faults.failed(OSError(errno.ENOSPC, "full"))
            clock.now += 1.0
        faults.failed(OSError(errno.EMFILE, "no fds"))  # another reason: reported at once
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3  # at 0 s, at 30 s, and the EMFILE
    assert "29 more like it in the last 30 s" in messages[1] and "too many open files" in messages[2]


def test_health_names_the_fault_the_path_how_long_and_what_was_dropped():
    clock = Clock()
    faults = Faults("snaps", clock=clock)
    faults.failed(OSError(errno.ENOSPC, "No space left on device", "/srv/snaps/cam"))
    faults.dropped("disk_full", 40)
    clock.now += 12
    health = faults.health()
    assert health is not None and not health.ok
    assert health.reason == "disk full (ENOSPC) on /srv/snaps/cam since 12 s: retrying; 40 dropped"
    assert faults.dropped_by_reason == {"disk_full": 40}
