"""Loopback ports for the servers the tests start (mosquitto, nats-server, RTSP, webhook receivers,
a daemon's API) and for addresses where nothing must listen.

`make test` runs the tests on several pytest-xdist workers at once. Each worker takes its ports
from a range of its own, below the kernel's ephemeral range: two workers never pick the same port,
and no outgoing connection (the kernel gives those ephemeral ports) lands on a port a test keeps
for a server it kills and starts again, or on one where it expects nobody to answer. Outside xdist
(one process) the kernel picks, as before.

    port = free_port()      # nothing listens there now; the caller binds it (or keeps it unused)
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["free_port"]

_FIRST, _SPAN, _WORKERS = 20000, 1500, 8  # worker gwN: 20000 + (N % 8) * 1500 .. + 1499 (below 32000)
_cursor: list[int] = []  # where this process looks next: successive calls never repeat a port


def free_port() -> int:
    """A loopback port nothing is bound to right now (in this worker's range under xdist); under
    xdist, not one this process gave before in its last 1500 calls (a test that picks ports for
    three servers before starting any gets three different ones)."""
    first = _worker_range_start()
    if first is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    if not _cursor:
        _cursor.append(int.from_bytes(os.urandom(4), "big") % _SPAN)  # not the `random` a test may seed
    for _ in range(_SPAN):  # bounded: each port of the range once
        port = first + _cursor[0] % _SPAN
        _cursor[0] += 1
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {first}..{first + _SPAN - 1} (xdist worker range)")


def _worker_range_start() -> int | None:
    """The first port of this xdist worker's range; None outside xdist, or when the range would
    overlap the kernel's ephemeral ports."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not (worker.startswith("gw") and worker[2:].isdigit()):
        return None
    first = _FIRST + (int(worker[2:]) % _WORKERS) * _SPAN
    try:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return None
    if first + _SPAN > low and first <= high:
        return None
    return first
