"""tests/support/ports.py: under pytest-xdist each worker picks loopback ports from a range of its
own, below the kernel's ephemeral ports, and never one that something is bound to."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support.ports import free_port

EPHEMERAL_LOW = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_two_workers_take_ports_from_ranges_that_never_meet(monkeypatch):
    picked: dict[str, set[int]] = {}
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        picked[worker] = {free_port() for _ in range(40)}
    assert all(20000 <= p < 21500 for p in picked["gw0"]), picked["gw0"]
    assert all(21500 <= p < 23000 for p in picked["gw1"]), picked["gw1"]
    assert max(picked["gw1"]) < EPHEMERAL_LOW  # no outgoing connection gets one of them


def test_successive_ports_differ_even_when_none_is_bound_in_between(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    ports = [free_port() for _ in range(200)]  # a cluster's ports are picked before any server starts
    assert len(set(ports)) == len(ports)


def test_a_port_something_listens_on_is_never_given(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    held = []
    try:
        for _ in range(60):  # bind most picks: the next ones must step around them
            port = free_port()
            assert port not in {s.getsockname()[1] for s in held}
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            sock.listen()
            held.append(sock)
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("worker", [None, "master", "gwx"])
def test_outside_xdist_the_kernel_picks_a_bindable_port(monkeypatch, worker):
    if worker is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    port = free_port()
    assert port >= EPHEMERAL_LOW  # the kernel's choice, as before the workers
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
