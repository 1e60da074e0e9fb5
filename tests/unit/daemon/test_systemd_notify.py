"""Notifier and Watchdog against real AF_UNIX datagram sockets, as systemd would listen."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.daemon.systemd import Heartbeat, Notifier, Watchdog


class Listener:
    """The service manager's end: a bound datagram socket we read messages from."""

    def __init__(self, sock: socket.socket, env_value: str) -> None:
        self.sock = sock
        self.env_value = env_value

    def fields(self, timeout: float = 1.0) -> dict[str, str]:
        self.sock.settimeout(timeout)
        message = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in message.split("\n"))

    def drain(self) -> list[dict[str, str]]:
        messages: list[dict[str, str]] = []
        self.sock.setblocking(False)
        while True:
            try:
                message = self.sock.recv(4096).decode()
            except BlockingIOError:
                return messages
            messages.append(dict(line.split("=", 1) for line in message.split("\n")))


@pytest.fixture
def path_listener(tmp_path: Path) -> Iterator[Listener]:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        yield Listener(sock, str(path))


@pytest.fixture
def abstract_listener() -> Iterator[Listener]:
    name = f"vigil-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        yield Listener(sock, "@" + name)


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest) -> Listener:
    return request.getfixturevalue(f"{request.param}_listener")


def notifier_for(listener: Listener, **env: str) -> Notifier:
    return Notifier.from_env({"NOTIFY_SOCKET": listener.env_value, **env})


def test_ready_status_stopping_reach_the_socket(listener: Listener) -> None:
    notifier = notifier_for(listener)
    assert notifier.ready()
    assert listener.fields() == {"READY": "1"}
    assert notifier.status("3 sources streaming\nsecond line")
    assert listener.fields() == {"STATUS": "3 sources streaming second line"}
    assert notifier.stopping()
    assert listener.fields() == {"STOPPING": "1"}
    notifier.close()


def test_reloading_carries_the_monotonic_clock_in_microseconds(path_listener: Listener) -> None:
    notifier = notifier_for(path_listener)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    fields = path_listener.fields()
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after
    notifier.close()


def test_extend_timeout_and_generic_fields_in_one_datagram(path_listener: Listener) -> None:
    notifier = notifier_for(path_listener)
    notifier.extend_timeout(120.5)
    assert path_listener.fields() == {"EXTEND_TIMEOUT_USEC": "120500000"}
    notifier.notify(READY=1, STATUS="up", MAINPID=os.getpid())
    assert path_listener.fields() == {"READY": "1", "STATUS": "up", "MAINPID": str(os.getpid())}
    with pytest.raises(ValueError):
        notifier.extend_timeout(0)
    notifier.close()


@pytest.mark.parametrize("value", [None, "", "relative/notify.sock", "vsock:2:1234"])
def test_without_a_usable_notify_socket_every_call_is_a_no_op(value: str | None) -> None:
    env = {} if value is None else {"NOTIFY_SOCKET": value}
    notifier = Notifier.from_env(env)
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert not notifier.reloading()


def test_unset_removes_the_variables_so_children_do_not_inherit_them(
    path_listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", path_listener.env_value)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier.from_env(unset=True)
    assert not {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} & set(os.environ)
    assert notifier.watchdog_interval() == 30.0
    assert notifier.ready()
    assert path_listener.fields() == {"READY": "1"}
    notifier.close()


def test_variables_stay_without_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    Notifier.from_env()
    assert os.environ["NOTIFY_SOCKET"] == "/run/systemd/notify"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "<self>"}, 0.5),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "thirty"}, None),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "me"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_from_the_environment(env: dict[str, str], expected: float | None) -> None:
    env = {k: str(os.getpid()) if v == "<self>" else v for k, v in env.items()}
    assert Notifier.from_env(env).watchdog_interval() == expected


def test_a_vanished_socket_is_logged_once_and_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gone.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        notifier = Notifier.from_env({"NOTIFY_SOCKET": str(path)})
        assert notifier.ready()
    path.unlink()
    with caplog.at_level(logging.WARNING, logger="vigil.daemon.systemd"):
        assert not notifier.watchdog()
        assert not notifier.status("still here")
    assert len(caplog.records) == 1
    assert "gone.sock" in caplog.records[0].getMessage()
    notifier.close()


async def test_watchdog_pings_only_while_progress_is_reported(path_listener: Listener, caplog: pytest.LogCaptureFixture) -> None:
    notifier = notifier_for(path_listener)
    progressing = True
    caplog.set_level(logging.INFO, logger="vigil.daemon.systemd")
    async with Watchdog(notifier, interval_s=0.1, progress=lambda: progressing) as watchdog:
        await asyncio.sleep(0.28)  # pings at 0, 0.05, ... about 5
        assert len(path_listener.drain()) >= 3
        progressing = False
        await asyncio.sleep(0.08)  # let a tick see the stall
        path_listener.drain()
        await asyncio.sleep(0.25)
        assert path_listener.drain() == []
        assert watchdog.withholding
        progressing = True
        await asyncio.sleep(0.2)
        pings = path_listener.drain()
        assert len(pings) >= 2 and all(p == {"WATCHDOG": "1"} for p in pings)
        assert not watchdog.withholding
    withheld = [r for r in caplog.records if "withholding" in r.getMessage()]
    assert len(withheld) == 1 and withheld[0].levelno == logging.WARNING
    assert any("progress again" in r.getMessage() for r in caplog.records)
    notifier.close()


async def test_watchdog_counts_a_failing_progress_check_as_no_progress(
    path_listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> bool:
        raise RuntimeError("observer gone")

    notifier = notifier_for(path_listener)
    async with Watchdog(notifier, interval_s=0.05, progress=broken) as watchdog:
        await asyncio.sleep(0.15)
        assert watchdog.withholding
    assert path_listener.drain() == []
    assert sum("progress check failed" in r.getMessage() for r in caplog.records) == 1
    notifier.close()


async def test_watchdog_stops_pinging_when_its_context_exits(path_listener: Listener) -> None:
    notifier = notifier_for(path_listener)
    async with Watchdog(notifier, interval_s=0.05, progress=lambda: True):
        await asyncio.sleep(0.06)
    path_listener.drain()
    await asyncio.sleep(0.1)
    assert path_listener.drain() == []
    notifier.close()


def test_heartbeat_is_recent_until_max_age_passes() -> None:
    heartbeat = Heartbeat(max_age_s=0.05)
    assert heartbeat.recent()
    time.sleep(0.07)
    assert not heartbeat.recent()
    heartbeat.beat()
    assert heartbeat.recent()
