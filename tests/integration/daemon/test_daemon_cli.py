"""`vigil run CONFIG` as a real process: systemd's notify socket, the HTTP API, SIGHUP reloads,
SIGTERM drains; `vigil check` and `vigil config schema`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import encode_clip, photo
from tests.support.ports import free_port

SECRET = "pa55-word-never-logged"


def write_config(path: Path, nudenet: Path, clip: Path, out: Path, port: int, names: list[str], secret_file: Path) -> None:
    sources = "".join(f"  - name: {n}\n    url: {clip}\n    realtime: true\n    loop: true\n" for n in names)
    sources += f"  - name: gate\n    url: rtsp://admin@127.0.0.1:{free_port()}/none\n    password_file: {secret_file}\n"
    path.write_text(
        f"model:\n  path: {nudenet}\n  image_size: 320\n"
        f"sources:\n{sources}"
        f"jsonl:\n  path: {out}\n"
        f"api:\n  port: {port}\n"
        f"logging:\n  format: json\n"
    )


def records(out: Path) -> list[dict]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def paced_clip(tmp_path_factory):
    return encode_clip(tmp_path_factory.mktemp("clip") / "c.mp4", photo("astronaut"), frames=20, size=(320, 240), fps=10)


def test_the_daemon_notifies_serves_reloads_on_sighup_and_drains_on_sigterm(tmp_path, nudenet_path, paced_clip):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(60)
    secret_file = tmp_path / "gate.password"
    secret_file.write_text(SECRET + "\n")
    config, out, port = tmp_path / "vigil.yaml", tmp_path / "r.jsonl", free_port()
    write_config(config, nudenet_path, paced_clip, out, port, ["door"], secret_file)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    proc = subprocess.Popen([sys.executable, "-m", "vigil", "run", str(config)], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert notify.recv(4096) == b"READY=1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/streams", timeout=10) as response:
            streams = {s["name"]: s for s in json.load(response)["streams"]}
        assert set(streams) == {"door", "gate"} and SECRET not in json.dumps(streams)
        wait_for(lambda: any(r["source"] == "door" for r in records(out)))

        write_config(config, nudenet_path, paced_clip, out, port, ["door", "porch"], secret_file)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: any(r["source"] == "porch" for r in records(out)))
        door_before = sum(r["source"] == "door" for r in records(out))
        wait_for(lambda: sum(r["source"] == "door" for r in records(out)) > door_before)  # kept running

        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    assert proc.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any("reload" in line["message"] for line in lines)
    assert SECRET not in stderr  # the camera's password never reaches the log
    door = [r["seq"] for r in records(out) if r["source"] == "door"]
    assert door == sorted(door) and len(set(door)) == len(door)  # in order, no repeats across the reload


def api_request(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", "X-Vigil-Console": "1"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_the_summary_counts_a_stream_deleted_and_added_again_whole(tmp_path, nudenet_path, paced_clip):
    """DELETE a stream over the API, add it again (POST), SIGTERM: the summary's count for it is
    every line it has in the JSONL, from before the deletion as well as after."""
    config, out, port = tmp_path / "vigil.yaml", tmp_path / "r.jsonl", free_port()
    stream = {"name": "ball-cam", "url": str(paced_clip), "realtime": True, "loop": True}
    config.write_text(
        f"model:\n  path: {nudenet_path}\n  image_size: 320\n"
        f"sources:\n  - {json.dumps(stream)}\n"
        f"jsonl: {{path: {out}}}\napi: {{port: {port}, allowed_media: ['{paced_clip.parent}']}}\nlogging: {{format: json}}\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "STATE_DIRECTORY")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # where API changes may be kept: not the user's
    proc = subprocess.Popen([sys.executable, "-m", "vigil", "run", str(config)], stderr=subprocess.PIPE, text=True, env=env)
    base = f"http://127.0.0.1:{port}/api/v1/streams"

    def ball_cam() -> int:
        return sum(r["source"] == "ball-cam" for r in records(out))

    def api_up() -> bool:
        try:
            return bool(api_request(base)["streams"])
        except OSError:
            return False

    try:
        wait_for(api_up, timeout=60)
        wait_for(lambda: ball_cam() >= 5)
        api_request(f"{base}/ball-cam", method="DELETE")
        before = ball_cam()
        assert api_request(base, method="POST", body=stream)["name"] == "ball-cam"
        wait_for(lambda: ball_cam() >= before + 5)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    messages = [json.loads(line)["message"] for line in stderr.splitlines() if line.startswith("{")]
    [summary] = [m for m in messages if m.startswith("done:")]
    counted = re.search(r"ball-cam=(\d+)", summary)
    assert counted is not None, summary
    assert int(counted.group(1)) == ball_cam(), summary
    assert "ball-cam=" + counted.group(1) + " (started 2 times)" in summary
    assert re.search(r"results in \d+\.\d s \(\d+\.\d frames/s\); shutdown took \d+\.\d s", summary), summary


def test_check_validates_and_names_the_line(tmp_path, nudenet_path):
    good = tmp_path / "good.yaml"  # check resolves the model, so a real one (tests/integration/test_config_check.py)
    good.write_text(f"model:\n  path: {nudenet_path}\nsources:\n  - name: a\n    url: a.mp4\njsonl:\n  path: r.jsonl\n")
    result = subprocess.run([sys.executable, "-m", "vigil", "check", str(good)], capture_output=True, text=True)
    assert result.returncode == 0 and "OK (1 source(s); sinks: jsonl)" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text() + "batch:\n  max_delay_ms: -5\n")
    result = subprocess.run([sys.executable, "-m", "vigil", "check", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "line 9: batch.max_delay_ms: Input should be greater than or equal to 0" in result.stderr


def test_config_schema_is_json_schema_with_descriptions():
    result = subprocess.run([sys.executable, "-m", "vigil", "config", "schema"], capture_output=True, text=True)
    schema = json.loads(result.stdout)
    assert result.returncode == 0 and {"model", "sources", "api", "logging"} <= set(schema["properties"])
    kinds = {k["properties"]["kind"]["const"]: k for k in schema["$defs"]["SourceConfig"]["oneOf"]}
    assert kinds["rtsp"]["properties"]["transport"]["description"]  # each source kind with its own keys
    stages = kinds["file"]["properties"]["stages"]["items"]["oneOf"]
    assert "filter" in [s["properties"]["kind"]["const"] for s in stages]  # and the registered stage kinds


def test_demo_runs_on_built_in_material(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vigil", "demo", "--out", str(tmp_path / "demo"), "--seconds", "2"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "vigil demo:" in result.stdout and "FACE_FEMALE" in result.stdout  # the astronaut's face
    records = [json.loads(line) for line in (tmp_path / "demo" / "results.jsonl").read_text().splitlines()]
    assert sum(r["source"] == "file" for r in records if "record" not in r) == 30  # every frame of the file
    # The face tracked past the line and into the zone: each event printed as it came, then counted.
    printed = [line.split()[3:] for line in result.stdout.splitlines() if line.startswith("event ")]
    assert [words[:2] for words in printed] == [
        ["object_start", printed[0][1]],
        ["line_cross", "line=door"],
        ["zone_enter", "zone=dock"],
        ["zone_exit", "zone=dock"],
        ["object_end", printed[0][1]],
    ]
    assert printed[1][2] == "in" and len({words[-2] for words in printed}) == 1  # one track, e.g. track=0
    assert "line_cross and zone_enter seen: yes" in result.stdout
    events = [r for r in records if r.get("record") == "event"]
    assert [e["type"] for e in events] == [words[0] for words in printed] and events[1]["direction"] == "in"
    assert list((tmp_path / "demo" / "video").rglob("*.mp4")) and list((tmp_path / "demo" / "snapshots").rglob("*.jpg"))
    # OCR through the same pipeline: the signs drawn on the video are read back.
    assert "texts read match the texts drawn: yes" in result.stdout
    texts = [json.loads(line) for line in (tmp_path / "demo" / "texts.jsonl").read_text().splitlines()]
    lines = [d for record in texts for d in record["detections"]]
    assert texts and {"text", "confidence", "quad"} <= set(lines[0]) and len(lines[0]["quad"]) == 4
    assert any("".join(d["text"].split()).upper() == "GATE7" for d in lines)


@pytest.mark.serial  # SIGTERM once the camera has results: the files must be whole by then
async def test_full_daemon_files_camera_webhook_api_watchdog_and_a_lossless_drain(tmp_path, nudenet_path, paced_clip):
    """Two file sources, one RTSP camera (the GStreamer server), a webhook receiver and JSONL."""
    import asyncio

    import aiohttp

    from tests.integration.sinks.test_webhook_sink import Receiver
    from tests.integration.sources.test_rtsp import RtspServer, started

    camera = started(RtspServer())
    receiver = await Receiver().start()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    port, out = free_port(), tmp_path / "r.jsonl"
    (tmp_path / "vigil.yaml").write_text(
        f"model:\n  path: {nudenet_path}\n  image_size: 320\n"
        f"sources:\n"
        f"  - {{name: a, url: {paced_clip}}}\n  - {{name: b, url: {paced_clip}}}\n"
        f"  - {{name: cam, url: '{camera.url()}', max_fps: 5}}\n"
        f"jsonl: {{path: {out}}}\n"
        f"webhook: {{url: '{receiver.url}', spool_dir: {tmp_path / 'spool'}}}\n"
        f"api: {{port: {port}, allowed_media: ['{paced_clip.parent}']}}\n"  # the stream POSTed below is a file
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vigil", "run", str(tmp_path / "vigil.yaml"), env=env, stderr=asyncio.subprocess.PIPE
    )
    loop = asyncio.get_running_loop()
    messages: list[str] = []

    async def heard(prefix: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(m.startswith(prefix) for m in messages):
            assert time.monotonic() < deadline, f"no {prefix} from the daemon; heard {messages}"
            try:
                messages.append((await asyncio.wait_for(loop.sock_recv(notify, 4096), 1.0)).decode())
            except asyncio.TimeoutError:
                pass

    base = f"http://127.0.0.1:{port}"
    try:
        await heard("READY=1")
        await heard("WATCHDOG=1")
        async with aiohttp.ClientSession(headers={"X-Vigil-Console": "1"}) as http:
            added = await http.post(f"{base}/api/v1/streams", json={"name": "late", "url": str(paced_clip)})
            assert added.status == 201, await added.text()

            async def streams() -> dict:
                return {s["name"]: s for s in (await (await http.get(f"{base}/api/v1/streams")).json())["streams"]}

            deadline = time.monotonic() + 30
            while (await streams())["cam"]["results"] < 3 or (await streams())["late"]["results"] < 3:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            assert (await http.delete(f"{base}/api/v1/streams/late")).status == 200
            assert "late" not in await streams()
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, stderr.decode()[-2000:]
    finally:
        if proc.returncode is None:
            proc.kill()
        camera.stop()
        notify.close()
    written = {(r["source"], r["seq"]) for r in records(out)}
    delivered = {(r["source"], r["seq"]) for r in receiver.taken}
    await receiver.stop()
    assert {s for s, _ in written} == {"a", "b", "cam", "late"}
    assert sum(s == "a" for s, _ in written) == 20 and sum(s == "b" for s, _ in written) == 20  # the files, whole
    assert delivered == written  # every result written to JSONL was also delivered: nothing lost at SIGTERM


async def test_a_stalled_pipeline_stops_the_watchdog_pings(tmp_path, nudenet_path, paced_clip):
    """The JSONL sink writes into a pipe nobody reads: once the pipe and the sink's queue are
    full, no batch can finish while frames keep waiting, as with a hung disk or a hung model."""
    import asyncio

    fifo = tmp_path / "stuck.jsonl"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    (tmp_path / "vigil.yaml").write_text(
        f"model:\n  path: {nudenet_path}\n  image_size: 320\n"
        f"sources:\n  - {{name: a, url: {paced_clip}, loop: true}}\n"
        f"jsonl: {{path: {fifo}}}\napi: {{enabled: false}}\n"
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vigil", "run", str(tmp_path / "vigil.yaml"), env=env, stderr=asyncio.subprocess.PIPE
    )
    loop = asyncio.get_running_loop()
    pings: list[float] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                message = (await asyncio.wait_for(loop.sock_recv(notify, 4096), 0.5)).decode()
            except asyncio.TimeoutError:
                message = ""
            if message == "WATCHDOG=1":
                pings.append(time.monotonic())
            if len(pings) >= 2 and time.monotonic() - pings[-1] > 4.0:
                break  # four seconds of silence: the watchdog gave up on the pipeline
        assert len(pings) >= 2, "the watchdog never pinged while the pipeline was healthy"
        assert time.monotonic() - pings[-1] > 4.0, "pings went on although the pipeline was stalled"
        assert proc.returncode is None  # alive: only systemd would now kill it
    finally:
        if proc.returncode is None:
            proc.kill()
        _, stderr = await proc.communicate()
        os.close(reader)
        notify.close()
    assert "watchdog: no progress, withholding the ping" in stderr.decode()
