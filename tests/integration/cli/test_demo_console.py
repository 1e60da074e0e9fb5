"""The demo runs through the daemon, so the web console is there while it runs: `vigil demo`
prints the console's URL and that URL answers with both demo streams before the frames are
done; `vigil demo --serve` keeps serving past the clip's end (the sources loop) until SIGTERM
or SIGINT, then stops cleanly."""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port
from vigil.cli import demo

CONSOLE = re.compile(r"^console: (http://127\.0\.0\.1:(\d+)/)$")


def get(url: str) -> tuple[int, str, bytes]:
    """Status, content type and body; an HTTP error's too."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers.get_content_type(), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


def streams(base: str) -> dict[str, dict[str, Any]]:
    status, _, body = get(base + "api/v1/streams")
    assert status == 200, body
    return {s["name"]: s for s in json.loads(body)["streams"]}


async def test_the_demo_prints_the_console_url_and_serves_both_streams_while_it_runs(tmp_path):
    said: list[str] = []
    seen: dict[str, Any] = {}

    def fetch(base: str) -> None:  # on a thread: the daemon answers on the demo's event loop
        try:
            seen["healthz"] = get(base + "healthz")[0]
            seen["streams"] = streams(base)
        except BaseException as exc:  # reported by the asserts below
            seen["error"] = exc

    fetching: list[threading.Thread] = []

    def say(line: str) -> None:
        said.append(line)
        match = CONSOLE.match(line)
        if match:
            seen["events_before_url"] = sum(s.startswith("event ") for s in said)
            fetching.append(threading.Thread(target=fetch, args=(match.group(1),)))
            fetching[-1].start()

    figures = await demo.run_demo(tmp_path / "out", seconds=2.0, say=say)
    for thread in fetching:
        thread.join(20)
    urls = [line for line in said if CONSOLE.match(line)]
    assert len(urls) == 1 and seen["events_before_url"] == 0, said  # said first, before the frames are done
    assert "error" not in seen, seen.get("error")
    assert seen["healthz"] == 200
    running = seen["streams"]
    assert set(running) == {"file", "camera"}
    assert running["camera"]["state"] in ("connecting", "streaming")  # the paced 2-s clip was still playing
    assert running["file"]["url"].endswith("demo.mp4")
    # The demo's own checks and figures, as before the console.
    assert figures["per_source"]["file"] == 30 and figures["events"]["line_cross"] == 1
    assert [line.split()[3] for line in said if line.startswith("event ")] == [
        "object_start",
        "line_cross",
        "zone_enter",
        "zone_exit",
        "object_end",
    ]
    # Stopped once the files were read: nothing listens there any more.
    port = int(CONSOLE.match(urls[0]).group(2))
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


@pytest.mark.parametrize("serve", [False, True])
def test_the_demo_config_keeps_its_state_under_out_and_loops_only_when_served(tmp_path, serve):
    config = demo.demo_config(tmp_path / "out", tmp_path / "out" / "demo.mp4", 2.0, serve=serve, port=8123)
    assert (config.api.host, config.api.port) == ("127.0.0.1", 8123)
    assert Path(str(config.api.state_file)).is_relative_to(tmp_path / "out")  # never ~/.local/state
    file, camera = config.sources
    assert (file.name, camera.name) == ("file", "camera")
    assert [file.loop, file.realtime, camera.loop, camera.realtime] == [serve, serve, serve, True]
    assert [z.name for z in file.zones] == ["dock"] and [line.name for line in file.lines] == ["door"]
    kinds = {entry.kind: entry.records for entry in config.sinks}
    assert kinds["jsonl"] == (["events"] if serve else ["results", "events"]) and "events" in kinds["snapshot"]
    assert ("video" in kinds) is not serve  # a served demo runs until stopped: no endless video


class Serving:
    """`vigil demo --serve` as a process; its stdout read line by line on a thread."""

    def __init__(self, out: Path, port: int) -> None:
        self.stderr = (out.parent / "stderr.txt").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigil", "demo", "--serve", "--port", str(port), "--out", str(out), "--seconds", "2"],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.said: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert self.process.poll() is None, f"vigil demo --serve exited {self.process.returncode}: {self.said}"
                continue
            self.said.append(line)
            match = pattern.match(line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern.pattern} in {timeout} s: {self.said}")

    def rest(self) -> list[str]:
        while not self.lines.empty():
            self.said.append(self.lines.get())
        return self.said

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.stderr.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_demo_serve_keeps_serving_past_the_clip_and_stops_cleanly_on_a_signal(tmp_path, sig):
    port = free_port()
    serving = Serving(tmp_path / "demo", port)
    try:
        base = serving.wait_for(CONSOLE, timeout=90).group(1)
        assert base == f"http://127.0.0.1:{port}/"
        serving.wait_for(re.compile(r".*Ctrl-C to stop"), timeout=5)
        status, kind, _ = get(base)
        assert (status, kind) == (200, "text/html")  # the console's page (no token: loopback)
        assert set(streams(base)) == {"file", "camera"}
        # The clip lasts 2 s: well after that both streams still stream and their results rise (looping).
        time.sleep(5)
        before = streams(base)
        time.sleep(2)
        after = streams(base)
        for name in ("file", "camera"):
            assert after[name]["state"] == "streaming", after[name]
            assert after[name]["results"] > before[name]["results"] > 0, (before[name], after[name])
        # The zone editor's change is kept in the demo's own state file, under its folder.
        zones = {"zones": [{"name": "bay", "polygon": [[0, 0], [100, 0], [100, 100]]}], "lines": []}
        put = urllib.request.Request(
            base + "api/v1/streams/file/zones",
            data=json.dumps(zones).encode(),
            method="PUT",
            headers={"Content-Type": "application/json", "X-Vigil-Console": "1"},
        )
        with urllib.request.urlopen(put, timeout=10) as answer:
            assert answer.status == 200
        state = json.loads((tmp_path / "demo" / "state" / "api-serve.json").read_text())
        assert [z["name"] for z in state["streams"]["file"]["source"]["zones"]] == ["bay"]
        serving.process.send_signal(sig)
        assert serving.process.wait(40) == 0, (tmp_path / "stderr.txt").read_text()
        said = serving.rest()
        assert any(line.startswith("vigil demo: ") for line in said), said  # the summary, after a clean stop
        assert "OCR: skipped (--serve" in "\n".join(said)
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        serving.close()
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()


@pytest.mark.parametrize("taken", [True, False], ids=["port-in-use", "port-out-of-range"])
def test_a_console_port_that_cannot_be_used_is_a_clear_error(tmp_path, taken):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1] if taken else 70000
        result = subprocess.run(
            [sys.executable, "-m", "vigil", "demo", "--port", str(port), "--out", str(tmp_path / "demo"), "--seconds", "2"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2, result.stderr
    [message] = result.stderr.splitlines()  # one line, no traceback
    assert message.startswith("vigil: error: ") and str(port) in message
    assert ("give another --port" if taken else "from 1 to 65535") in message


async def test_the_demo_still_stops_when_a_batch_fails_and_its_frames_never_get_results(
    tmp_path, nudenet_path, monkeypatch, caplog
):
    import asyncio

    from vigil.engine import AutoModel

    probe = AutoModel.from_pretrained(nudenet_path, image_size=640)
    model_class = type(probe)
    probe.close()
    forward = model_class.forward
    calls = 0

    def failing_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("a batch that fails, on purpose")
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(model_class, "forward", failing_once)
    said: list[str] = []
    started = time.monotonic()
    try:
        figures = await asyncio.wait_for(demo.run_demo(tmp_path / "out", seconds=2.0, say=said.append), timeout=90)
    except demo.DemoCheckError:  # the failed batch may have held the crossing: a clear failure, not a hang
        figures = None
    assert calls >= 3 and time.monotonic() - started < 60  # ended soon after its sources, not at the timeout
    assert "a batch that fails, on purpose" in caplog.text  # the batch did fail: its frames have no result
    if figures is not None:
        assert figures["results"] < 60 and figures["per_source"]["file"] <= 30
