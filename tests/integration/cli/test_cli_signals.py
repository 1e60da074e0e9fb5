"""`vigil run` as a real process, both ways it runs (a YAML file: the daemon's `serve()`; flags:
one pipeline), stopped by real signals: one SIGTERM drains and exits 0, a second signal right
after it exits 130 at once, each said in the log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def start(args: list[str], tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "STATE_DIRECTORY")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # the API state file: never the user's
    err = tmp_path / "stderr.log"
    with err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "vigil", "--log-format", "json", *args], stderr=stderr, env=env)
    return proc, err


def wait_for_results(proc: subprocess.Popen[bytes], out: Path, err: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not (out.exists() and out.read_text().count("\n") >= 3):
        assert proc.poll() is None, err.read_text()
        assert time.monotonic() < deadline, "no results in time: " + err.read_text()
        time.sleep(0.1)


def messages(err: Path) -> list[str]:
    return [json.loads(line)["message"] for line in err.read_text().splitlines() if line.startswith("{")]


def run_args(how: str, tmp_path: Path, nudenet: Path, clip: Path, out: Path) -> list[str]:
    if how == "flags":
        return [
            "run",
            "--model",
            str(nudenet),
            "--source",
            f"cam={clip}",
            "--loop",
            "--realtime",
            "--out",
            str(out),
            "--image-size",
            "320",
        ]
    config = tmp_path / "vigil.yaml"
    config.write_text(
        f"model: {{path: {nudenet}, image_size: 320}}\n"
        f"sources:\n  - {{name: cam, url: {clip}, realtime: true, loop: true}}\n"
        f"sinks:\n  - {{kind: jsonl, path: {out}}}\napi: {{enabled: false}}\n"
    )
    return ["run", str(config)]


@pytest.mark.parametrize("how", ["config", "flags"])
def test_one_sigterm_drains_and_exits_0(tmp_path, nudenet_path, clips, how):
    out = tmp_path / "r.jsonl"
    proc, err = start(run_args(how, tmp_path, nudenet_path, clips["astronaut"], out), tmp_path)
    try:
        wait_for_results(proc, out, err)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "SIGTERM: stopping; finishing frames already read (again to force)" in messages(err)


@pytest.mark.parametrize("how", ["config", "flags"])
def test_a_second_signal_exits_130_at_once(tmp_path, nudenet_path, clips, how):
    out = tmp_path / "r.jsonl"
    proc, err = start(run_args(how, tmp_path, nudenet_path, clips["astronaut"], out), tmp_path)
    try:
        wait_for_results(proc, out, err)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGINT)  # before the drain can end: both wait in the loop's signal pipe
        assert proc.wait(timeout=60) == 130, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = messages(err)
    # Both pending at once, the kernel hands them over in signal-number order (SIGINT first)
    # or as sent: either is the first, the other the second.
    orders = [("SIGTERM", "SIGINT"), ("SIGINT", "SIGTERM")]
    assert any(
        f"{first}: stopping; finishing frames already read (again to force)" in said
        and f"{second} again: exiting now, results still in flight are lost" in said
        for first, second in orders
    ), said
