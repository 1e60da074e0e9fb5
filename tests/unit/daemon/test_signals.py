"""`StopSignals` with real signals sent to this process: SIGHUP reloads, the first SIGTERM or
SIGINT stops, a second forces; on exit the handlers that were there before are back."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable

import pytest

from tests.support.signals import own_handlers  # noqa: F401 - a fixture
from vigil.daemon.signals import StopSignals


async def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("first, second", [(signal.SIGTERM, signal.SIGINT), (signal.SIGINT, signal.SIGINT)])
async def test_sighup_reloads_the_first_stop_signal_stops_and_a_second_forces(own_handlers, caplog, first, second):
    handler, reached = own_handlers
    calls: list[str] = []
    caplog.set_level(logging.INFO, logger="vigil.daemon.signals")
    with StopSignals(lambda: calls.append("stop"), lambda: calls.append("force"), lambda: calls.append("reload")):
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: calls == ["reload"])
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: calls == ["reload", "reload"])  # each SIGHUP reloads
        os.kill(os.getpid(), first)
        await until(lambda: calls[-1:] == ["stop"])
        os.kill(os.getpid(), second)
        await until(lambda: calls[-1:] == ["force"])
    assert calls == ["reload", "reload", "stop", "force"] and reached == []
    messages = [r.getMessage() for r in caplog.records]
    assert f"{first.name}: stopping; finishing frames already read (again to force)" in messages
    assert f"{second.name} again: exiting now, results still in flight are lost" in messages
    assert all(signal.getsignal(sig) is handler for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))


async def test_without_reload_sighup_keeps_its_handler(own_handlers):
    handler, reached = own_handlers
    calls: list[str] = []
    with StopSignals(lambda: calls.append("stop"), lambda: calls.append("force")):
        assert signal.getsignal(signal.SIGHUP) is handler and signal.getsignal(signal.SIGTERM) is not handler
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: reached == [signal.SIGHUP])
    assert calls == []
    os.kill(os.getpid(), signal.SIGTERM)  # after the exit: ours again
    await until(lambda: reached == [signal.SIGHUP, signal.SIGTERM])
    assert calls == []
