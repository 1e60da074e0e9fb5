"""Real NATS servers for the tests: Debian's nats-server with JetStream, on free loopback ports,
each with its own config file and store directory. `NatsServer` is one server (optionally with
a user and password); `NatsCluster` is three of them joined by cluster routes, each with its
`server_name`, so a stream can keep 3 replicas. A server that cannot start fails the test.

    server = NatsServer(tmp_path / "nats").start()
    ...  server.url, server.kill(), server.start()  (same port and store: the data survives)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import nats

from tests.support.ports import free_port

BINARY = shutil.which("nats-server") or "/usr/sbin/nats-server"
_START_TIMEOUT_S = 10.0


class NatsServer:
    """One nats-server with JetStream (a user and password, or a token, when given); `routes` and
    `cluster_port` join it to a cluster."""

    def __init__(
        self,
        directory: Path,
        *,
        name: str = "n1",
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
    ) -> None:
        self.directory, self.name = directory, name
        self.port, self.cluster_port = free_port(), free_port()
        self.user, self.password, self.token = user, password, token
        self.routes: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def config(self) -> str:
        store = self.directory / "store"
        text = (
            f'server_name: {self.name}\nlisten: "127.0.0.1:{self.port}"\n'
            f'jetstream {{ store_dir: "{store}", max_memory_store: 64MB, max_file_store: 1GB }}\n'
        )
        if self.user is not None:
            text += f'authorization {{ user: "{self.user}", password: "{self.password}" }}\n'
        if self.token is not None:
            text += f'authorization {{ token: "{self.token}" }}\n'
        if self.routes:
            routes = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in self.routes)
            text += f'cluster {{ name: vigil, listen: "127.0.0.1:{self.cluster_port}", routes: [{routes}] }}\n'
        return text

    def start(self) -> NatsServer:
        """Start it (again: same port, same store) and wait until it accepts connections."""
        path = self.directory / "nats.conf"
        path.write_text(self.config())
        log = open(self.directory / "server.log", "ab")
        self.process = subprocess.Popen([BINARY, "-c", str(path)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited with {self.process.returncode}: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server {self.name} did not listen on {self.port} within {_START_TIMEOUT_S}s")

    def kill(self) -> None:
        """SIGKILL, no goodbye: what a crash or a power cut does."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(5)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def log_tail(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


class NatsCluster:
    """Three JetStream servers on loopback joined by routes (cluster `vigil`, servers n1..n3)."""

    def __init__(self, directory: Path) -> None:
        self.nodes = [NatsServer(directory / f"n{i}", name=f"n{i}") for i in (1, 2, 3)]
        for node in self.nodes:
            node.routes = [other.cluster_port for other in self.nodes if other is not node]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> NatsCluster:
        for node in self.nodes:
            node.start()
        return self

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


async def wait_for_jetstream(urls: list[str], timeout: float = 20.0, **auth: str) -> None:
    """Until JetStream answers (a cluster needs a meta leader first)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            nc = await nats.connect(servers=urls, connect_timeout=1, allow_reconnect=False, **auth)
        except Exception as exc:  # noqa: BLE001
            last = exc
            await asyncio.sleep(0.2)
            continue
        try:
            await nc.jetstream(timeout=1).account_info()
            return
        except Exception as exc:  # noqa: BLE001
            last = exc
            await asyncio.sleep(0.2)
        finally:
            await nc.close()
    raise RuntimeError(f"JetStream at {urls} did not answer within {timeout}s ({last!r})")


async def read_stream(
    urls: list[str], stream: str, subject: str, timeout: float = 60.0, **auth: str
) -> list[tuple[int, str, bytes]]:
    """Every message of `stream` on `subject` (wildcards allowed): (stream seq, Nats-Msg-Id, data),
    read with an ephemeral ordered consumer. A cluster just restarted may take a while to elect
    its stream leader (longer on a loaded machine), so a read that times out is tried again
    until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await _read_stream_once(urls, stream, subject, **auth)
        except (nats.errors.Error, asyncio.TimeoutError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _read_stream_once(urls: list[str], stream: str, subject: str, **auth: str) -> list[tuple[int, str, bytes]]:
    nc = await nats.connect(servers=urls, connect_timeout=2, allow_reconnect=False, **auth)
    try:
        js = nc.jetstream(timeout=5)
        info = await js.stream_info(stream)
        total = info.state.messages
        sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=None, stream=stream)
        out: list[tuple[int, str, bytes]] = []
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=3.0 if out or total else 0.3)
                except nats.errors.TimeoutError:
                    break
                out.append((msg.metadata.sequence.stream, (msg.headers or {}).get("Nats-Msg-Id", ""), msg.data))
        finally:
            await sub.unsubscribe()
        return out
    finally:
        await nc.close()


def sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
