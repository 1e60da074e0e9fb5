"""A real `vigil run CONFIG.yaml` process for the browser tests: its config written under a temporary
folder, its log kept in a file (a pipe nobody reads would fill and stall it), its API asked with
urllib, and a failure that shows what the daemon said when it died."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.ports import free_port  # noqa: F401 - the browser tests import it from here

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "console"  # screenshots and daemon logs, kept by CI
FACES = "[FACE_FEMALE, FACE_MALE]"
# The clip: the astronaut's face 4 px a frame left to right (x 0..396, 180 px wide, y 120..340),
# 100 frames at 30 fps, looped; its box's bottom centre goes from x 90 to 486 at y 340.
FRAMES = 100


def camera(name: str, clip: Path, extra: str = "") -> str:
    """A `sources` entry: a file played as a camera (real time, looping), tracked faces."""
    return (
        f"  - name: {name}\n    url: {clip}\n    realtime: true\n    loop: true\n    max_fps: 10\n"
        f"    tracking: {{classes: {FACES}, track_activation_threshold: 0.5, high_confidence_threshold: 0.5}}\n" + extra
    )


@dataclass
class Vigil:
    """A running daemon: its base URL, process and log."""

    proc: subprocess.Popen[bytes]
    base: str
    log_path: Path
    token: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def state(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "the daemon is running"
        return f"the daemon exited with {code}; its log ends with:\n{self.log()[-4000:]}"

    def request(
        self, path: str, method: str = "GET", body: Any = None, token: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """(status, JSON body or text) of one API call, as a script makes it (with the console's
        header, which writes without the token need); `token` sent as a bearer token."""
        headers = {"Content-Type": "application/json", "X-Vigil-Console": "1", **(headers or {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                status, raw, kind = answer.status, answer.read(), answer.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            status, raw, kind = exc.code, exc.read(), exc.headers.get_content_type()
        return status, (json.loads(raw) if kind == "application/json" else raw.decode(errors="replace"))

    def api(self, path: str) -> Any:
        """The JSON body of a GET that must answer 200 (with the token when there is one)."""
        status, body = self.request(path, token=self.token)
        assert status == 200, f"GET {path} answered {status}: {body}"
        return body

    def wait_for(self, predicate: Callable[[], T | None], what: str, timeout: float = 45.0) -> T:
        """Poll `predicate` until it gives something truthy; fail naming `what` and the daemon's state."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                pytest.fail(f"{what}: not seen; {self.state()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not seen within {timeout:.0f} s; {self.state()}")
            time.sleep(0.25)


def start_vigil(folder: Path, config: str, port: int, token: str | None = None) -> Vigil:
    """Write `config` to folder/vigil.yaml, run it, wait until /readyz says ready."""
    path = folder / "vigil.yaml"
    path.write_text(config)
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "STATE_DIRECTORY")}
    env["XDG_STATE_HOME"] = str(folder / "state")  # never the user's own API state
    log_path = folder / "vigil.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigil", "run", str(path)], stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env
        )
    vigil = Vigil(proc, f"http://127.0.0.1:{port}", log_path, token)

    def ready() -> bool:
        try:
            status, body = vigil.request("/readyz", token=token)
        except OSError:
            return False
        return status == 200 and bool(body["ready"])

    try:
        vigil.wait_for(ready, "GET /readyz answering ready", timeout=90)
    except BaseException:
        stop_vigil(vigil)
        raise
    return vigil


def stop_vigil(vigil: Vigil, keep_log_as: str | None = None) -> None:
    """Stop the daemon; keep its log as artifacts/console/<keep_log_as>.log."""
    if vigil.proc.poll() is None:
        vigil.proc.terminate()
        try:
            vigil.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            vigil.proc.kill()
            vigil.proc.wait(timeout=10)
    if keep_log_as:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{keep_log_as}.log").write_text(vigil.log())
