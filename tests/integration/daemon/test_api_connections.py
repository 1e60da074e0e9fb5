"""The API against clients that open connections and say nothing (issue 26, item 2): a real
`vigil run` process under a 256 open-file limit, several hundred half-open connections held
to its API (loopback, a bounded count), and the daemon must keep answering /healthz within a
second and keep writing its JSONL and snapshots; slow headers and bodies are cut off; the soft
open-file limit is raised to the hard one at start."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.conftest import encode_clip, photo
from tests.integration.daemon.test_api_properties import MemoryControl
from tests.integration.daemon.test_daemon_cli import free_port
from tests.support.results import make_result
from vigil.api.app import make_app
from vigil.api.console.live import LiveView
from vigil.config.api import ApiConfig
from vigil.store.log import EventLog

HELD = 300  # connections the test holds open (more than the daemon's 256 descriptors)


@dataclass
class Run:
    proc: subprocess.Popen[bytes]
    port: int
    folder: Path

    def log(self) -> str:
        return (self.folder / "vigil.log").read_text(errors="replace")

    def lines(self) -> int:
        path = self.folder / "r.jsonl"
        return path.read_bytes().count(b"\n") if path.exists() else 0

    def snapshots(self) -> int:
        folder = self.folder / "snaps"
        return sum(1 for p in folder.rglob("*.jpg")) if folder.exists() else 0

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def get(self, path: str, timeout: float) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            connection.close()

    def healthz_timed(self, connect_timeout: float, answer_timeout: float) -> tuple[int, bytes, float]:
        """GET /healthz: its status, body and the seconds from connected to answered."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=connect_timeout)
        connected = time.monotonic()
        sock.settimeout(answer_timeout)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=answer_timeout)
        connection.sock = sock
        try:
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            return answer.status, answer.read(), time.monotonic() - connected
        finally:
            connection.close()

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, f"{what}: the daemon exited; its log ends with:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"{what}: not seen within {timeout:.0f} s; log:\n{self.log()[-3000:]}"
            time.sleep(0.25)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_clip(tmp_path_factory.mktemp("clip") / "c.mp4", photo("astronaut"), frames=20, size=(320, 240), fps=10)


def start(folder: Path, nudenet_path: Path, clip: Path, nofile: tuple[int, int], api: str) -> Run:
    port = free_port()
    config = folder / "vigil.yaml"
    config.write_text(
        f"model:\n  path: {nudenet_path}\n  image_size: 320\n"
        f"sources:\n  - {{name: cam, url: {clip}, realtime: true, loop: true}}\n"
        f"sinks:\n  - {{kind: jsonl, path: {folder / 'r.jsonl'}}}\n"
        f"  - {{kind: snapshot, directory: {folder / 'snaps'}, interval_s: 0.5}}\n"
        f"api: {{port: {port}, state_file: {folder / 'api.json'}{api}}}\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "STATE_DIRECTORY")}
    with (folder / "vigil.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigil", "run", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile),
        )
    run = Run(proc, port, folder)

    def healthy() -> bool:
        try:
            return run.get("/healthz", timeout=2)[0] == 200 and run.lines() > 0
        except OSError:
            return False

    try:
        run.wait_for("the API answering and the JSONL written", healthy, timeout=90)
    except BaseException:
        stop(run)
        raise
    return run


def stop(run: Run) -> None:
    if run.proc.poll() is None:
        run.proc.terminate()
        try:
            run.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait(timeout=10)


class Crowd:
    """`count` connections to the API, half silent, half with unfinished headers; a thread opens
    again, once a second, those the server closed (as a client that wants to hold them would)."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.sockets: list[socket.socket] = []
        self.reopened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._hold, name="crowd", daemon=True)

    def _open(self, i: int) -> socket.socket:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", self.port))
        if i % 2:
            select.select([], [s], [], 2.0)
            try:
                s.send(b"GET /api/v1/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            except OSError:
                pass
        return s

    def __enter__(self) -> Crowd:
        self.sockets = [self._open(i) for i in range(self.count)]
        self._thread.start()
        return self

    def _hold(self) -> None:
        for _ in range(300):  # at most 300 s
            if self._stop.wait(1.0):
                return
            readable, _, _ = select.select(self.sockets, [], [], 0)
            for s in readable:
                try:
                    if s.recv(4096):
                        continue
                except OSError:
                    pass
                i = self.sockets.index(s)
                s.close()
                self.sockets[i] = self._open(i)
                self.reopened += 1

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        for s in self.sockets:
            s.close()


@pytest.fixture
def capped(tmp_path: Path, nudenet_path: Path, clip: Path) -> Iterator[Run]:
    # A header timeout longer than the test: what keeps the daemon alive here is the cap.
    run = start(tmp_path, nudenet_path, clip, (256, 256), ", header_timeout_s: 60, body_timeout_s: 2")
    yield run
    stop(run)


@pytest.mark.serial  # /healthz within 1 s while hundreds of connections are held
def test_hundreds_of_half_open_connections_leave_healthz_and_the_sinks_working(capped: Run) -> None:
    run = capped
    with Crowd(run.port, HELD) as crowd:
        lines, snapshots = run.lines(), run.snapshots()
        most_descriptors = 0
        for _ in range(5):
            time.sleep(1.0)
            most_descriptors = max(most_descriptors, run.descriptors())
            # Answered within a second of connecting (a socket.timeout fails the test). The connect
            # itself may take one SYN retransmission (the kernel's 1 s) when the crowd's reconnects
            # have filled the accept queue at that instant: that queue is the kernel's, bounded on
            # purpose (vigil.api.server), and the daemon empties it as fast as its loop runs.
            status, body, took = run.healthz_timed(connect_timeout=3.5, answer_timeout=1.0)
            assert status == 200 and json.loads(body) == {"status": "ok"}
            assert took < 1.0
        run.wait_for(
            "the JSONL and the snapshots written while the connections are held",
            lambda: run.lines() > lines + 5 and run.snapshots() > snapshots,
            timeout=30,
        )
        assert crowd.reopened > 0, "the server closed none of the held connections"
    assert most_descriptors < 256
    # Released: the API and the sinks work as before.
    lines, snapshots = run.lines(), run.snapshots()
    status, body = run.get("/api/v1/streams", timeout=5)
    assert status == 200 and json.loads(body)["streams"][0]["name"] == "cam"
    run.wait_for("the sinks still writing after the release", lambda: run.lines() > lines + 5 and run.snapshots() > snapshots)
    log = run.log()
    assert "api.max_connections" in log and "Too many open files" not in log, log[-3000:]


def test_a_body_that_never_ends_is_answered_408(capped: Run) -> None:
    with socket.create_connection(("127.0.0.1", capped.port), timeout=30) as s:
        s.sendall(
            b"POST /api/v1/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'X-Vigil-Console: 1\r\nContent-Length: 100\r\n\r\n{"name": '
        )
        started = time.monotonic()
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"api.body_timeout_s" in answer and time.monotonic() - started < 20


def test_the_soft_open_file_limit_is_raised_and_slow_headers_are_cut_off(tmp_path: Path, nudenet_path: Path, clip: Path) -> None:
    run = start(tmp_path, nudenet_path, clip, (256, 2048), ", header_timeout_s: 2")
    try:
        limits = Path(f"/proc/{run.proc.pid}/limits").read_text()
        soft = next(line for line in limits.splitlines() if line.startswith("Max open files")).split()[3]
        assert soft == "2048", limits
        assert "open-file limit raised from 256 to 2048" in run.log()
        with (
            socket.create_connection(("127.0.0.1", run.port), timeout=30) as slow,
            socket.create_connection(("127.0.0.1", run.port), timeout=30) as silent,
        ):
            started, closed = time.monotonic(), b"x"
            for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n":  # a byte every 0.25 s: 10 s in all
                try:
                    slow.send(bytes([byte]))
                except OSError:  # closed by the server
                    closed = b""
                    break
                if select.select([slow], [], [], 0.25)[0]:
                    try:
                        closed = slow.recv(4096)
                    except ConnectionResetError:
                        closed = b""
                    break
            assert closed == b"", f"a client sending its headers a byte at a time got {closed!r}, not a closed connection"
            assert time.monotonic() - started < 9
            assert silent.recv(4096) == b""  # a connection that never says anything is closed too
    finally:
        stop(run)


async def test_live_views_take_at_most_half_the_connections() -> None:
    """Each live view holds its connection while watched: beyond half of api.max_connections a new
    one is a 503, so viewers never take the connections /healthz and the rest need."""
    live = LiveView(fps=5.0, max_width=640)
    live.published(make_result("door", 0))
    server = TestServer(make_app(MemoryControl(), None, EventLog(), live, api=ApiConfig(max_connections=4)))
    await server.start_server()
    url = str(server.make_url("/api/v1/streams/door/live.mjpeg"))
    try:
        async with aiohttp.ClientSession() as first, aiohttp.ClientSession() as second, aiohttp.ClientSession() as third:
            watching = [await first.get(url), await second.get(url)]
            assert [r.status for r in watching] == [200, 200]
            refused = await third.get(url)
            assert refused.status == 503 and "api.max_connections" in (await refused.json())["error"]
            assert (await third.get(str(server.make_url("/healthz")))).status == 200
            watching[0].close()  # a viewer leaves: its place is free again once the server sees it gone

            async def admitted() -> bool:
                answer = await third.get(url)
                answer.close()
                return answer.status == 200

            for _ in range(100):  # the server notices a gone viewer within a second or two
                if await admitted():
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("a live view's place was not freed after its viewer left")
            watching[1].close()
    finally:
        live.close()
        await server.close()
