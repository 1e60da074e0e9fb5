"""A real MQTT broker for the tests: Debian's mosquitto on a free loopback port, with its own
config file and directory, optionally requiring a password (`mosquitto_passwd -b`). Tests kill
(SIGKILL) and start it again on the same port. A broker that cannot start fails the test.

    broker = Mosquitto(tmp_path, users={"vigil": "s3cret"})
    broker.start()
    ... mqtt://127.0.0.1:{broker.port} ...
    broker.kill(); broker.start()
    broker.stop()
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.ports import free_port

__all__ = ["MOSQUITTO", "MOSQUITTO_PASSWD", "Mosquitto", "free_port", "make_certificates"]

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"


def make_certificates(directory: Path) -> Path:
    """A throwaway CA (ca.pem) and a server certificate for 127.0.0.1 (server.pem, server.key)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=vigil test CA",
    )
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    return directory / "ca.pem"


class Mosquitto:
    """One broker process at a time, always on the same port. Without persistence: a restart
    starts empty, retained messages included (the sink must publish them again)."""

    def __init__(self, directory: Path, users: dict[str, str] | None = None, tls: bool = False) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = directory / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None
        # As root mosquitto would switch to its own user, who cannot read the test's files.
        lines = [
            f"user {getpass.getuser()}",
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            f"log_dest file {self.log}",
            "log_type all",
        ]
        if users:
            passwords = directory / "passwords"
            passwords.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwords), user, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.ca_file: Path | None = None
        if tls:  # a CA of the test's own, and a certificate for 127.0.0.1 signed by it
            self.ca_file = make_certificates(directory)
            lines += [f"cafile {self.ca_file}", f"certfile {directory / 'server.pem'}", f"keyfile {directory / 'server.key'}"]
        self.config = directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> None:
        assert self.process is None, "the broker is running"
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.directory
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                self.process = None
                raise AssertionError(f"mosquitto exited at start: {error}\n{self._log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise AssertionError(f"mosquitto did not listen on port {self.port} within {timeout}s\n{self._log_tail()}")

    def kill(self) -> None:
        """SIGKILL: connections drop without a DISCONNECT, as when the machine dies."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, how: signal.Signals) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, how)
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else "(no log)"
