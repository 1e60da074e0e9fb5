"""RTSP cameras against a real GStreamer RTSP server, killed and restarted by the tests."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import encode_clip, photo
from vigil.redact import mask_url
from vigil.sources import ReconnectPolicy, RTSPSource, SourceState

SERVER = Path(__file__).resolve().parents[2] / "support" / "rtsp_server.py"
FAST = ReconnectPolicy(initial_s=0.2, max_s=1.0, multiplier=2.0)
DECODERS = ["pyav", "gstreamer"]  # the kill, reconnect and camera-clock tests run with each decoder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served_clip(tmp_path_factory) -> Path:
    """What the server's /file mount plays: 2 s of H.264 with B-frames."""
    return encode_clip(tmp_path_factory.mktemp("rtsp") / "clip.mp4", photo("astronaut"), 60)


class RtspServer:
    def __init__(self, *flags: str) -> None:
        self.port = free_port()
        self.flags = flags
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(SERVER), str(self.port), *self.flags], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"RTSP server did not start (said {line!r})")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def url(self, path: str = "live", credentials: str = "") -> str:
        return f"rtsp://{credentials}127.0.0.1:{self.port}/{path}"


def started(srv: RtspServer) -> RtspServer:
    try:
        srv.start()
    except (OSError, RuntimeError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the RTSP server cannot start: {exc}")
        pytest.skip(f"GStreamer RTSP server unavailable ({exc}); .ci/run installs it")
    return srv


@pytest.fixture
def server(served_clip):
    srv = started(RtspServer("--file", str(served_clip)))
    yield srv
    srv.stop()


@pytest.fixture
def login_server():
    srv = started(RtspServer("--auth"))
    yield srv
    srv.stop()


async def take(source: RTSPSource, n: int, timeout: float = 15.0) -> list:
    frames = []

    async def read() -> None:
        async for frame in source:
            frames.append(frame)
            if len(frames) >= n:
                return

    await asyncio.wait_for(read(), timeout)
    return frames


async def wait_state(source: RTSPSource, state: SourceState, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while source.state is not state:
        assert time.monotonic() < deadline, f"source stayed {source.state.value}, expected {state.value}"
        await asyncio.sleep(0.05)


def test_mask_url_hides_passwords_only():
    assert mask_url("rtsp://admin:hunter2@10.0.0.5:554/s1 failed") == "rtsp://admin:***@10.0.0.5:554/s1 failed"
    assert mask_url("rtsp://10.0.0.5/s1") == "rtsp://10.0.0.5/s1"


@pytest.mark.parametrize("decoder", DECODERS)
async def test_frames_flow_with_increasing_pts_and_current_capture_times(server, decoder):
    source = RTSPSource("cam", server.url(), reconnect=FAST, decoder=decoder)
    await source.start()
    frames = await take(source, 45)
    await source.stop()
    assert source.state in (SourceState.STREAMING, SourceState.ENDED)
    assert all(b.pts > a.pts for a, b in zip(frames, frames[1:]))
    assert frames[0].image.shape == (240, 320, 3)
    now = datetime.now(timezone.utc)
    assert all(abs((now - f.capture_time).total_seconds()) < 30 for f in frames)
    assert all(b.capture_time >= a.capture_time for a, b in zip(frames, frames[1:]))


async def test_a_file_served_over_rtsp_arrives_frame_for_frame(server, served_clip):
    with av.open(str(served_clip)) as container:
        expected = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    source = RTSPSource("replay", server.url("file"), reconnect=FAST, queue_size=64)  # room for all: none dropped
    await source.start()
    frames = await take(source, 40)
    await source.stop()
    assert source.stats.dropped["queue_full"] == 0
    assert [f.image.shape for f in frames] == [(480, 640, 3)] * 40
    # The server passes the file's H.264 through: each frame decodes to the same pixels.
    assert all(np.array_equal(f.image, e) for f, e in zip(frames, expected))
    assert np.allclose(np.diff([f.pts for f in frames]), 1 / 30, atol=1e-3)


@pytest.mark.parametrize("decoder", DECODERS)
async def test_udp_transport_streams_and_takes_capture_times_from_the_camera_clock(server, decoder):
    source = RTSPSource("cam", server.url(), transport="udp", reconnect=FAST, decoder=decoder)
    await source.start()
    frames = await take(source, 20)
    assert source.transport == "udp" and len(frames) == 20
    # GStreamer sends an RTCP sender report within seconds; FFmpeg then knows the NTP time of PTS 0.
    deadline = time.monotonic() + 10
    while source.capture_clock != "camera" and time.monotonic() < deadline:
        frames += await take(source, 1)
    frames += await take(source, 5)
    await source.stop()
    assert source.capture_clock == "camera"
    now = datetime.now(timezone.utc)
    assert all(abs((now - f.capture_time).total_seconds()) < 15 for f in frames)  # same host, same clock
    assert abs((now - frames[-1].capture_time).total_seconds()) < 1.0
    assert all(b.capture_time >= a.capture_time for a, b in zip(frames, frames[1:]))  # monotonic across the switch


@pytest.mark.parametrize("decoder", DECODERS)
async def test_server_killed_then_restarted_source_reconnects(server, decoder):
    source = RTSPSource("cam", server.url(), stall_timeout_s=2.0, reconnect=FAST, decoder=decoder)
    states: list[SourceState] = []
    source.add_state_listener(lambda src, state, detail: states.append(state))
    await source.start()
    await take(source, 10)
    server.stop()
    await wait_state(source, SourceState.RECONNECTING)
    server.start()
    await wait_state(source, SourceState.STREAMING, timeout=15)
    frames = await take(source, 10)
    await source.stop()
    assert len(frames) == 10
    assert states[:3] == [SourceState.STREAMING, SourceState.RECONNECTING, SourceState.STREAMING]


@pytest.mark.parametrize("decoder", DECODERS)
async def test_capture_times_never_pass_arrival_and_increase_over_reconnects(server, decoder):
    """After each connect FFmpeg hands over the ~1 s it buffered while probing in a burst; capture
    times used to run ahead of arrival for the whole connection, then freeze when the camera's
    clock took over (issue 14)."""
    source = RTSPSource("cam", server.url(), stall_timeout_s=2.0, reconnect=FAST, queue_size=64, decoder=decoder)  # none dropped
    connects: list[SourceState] = []
    source.add_state_listener(lambda src, state, detail: connects.append(state) if state is SourceState.STREAMING else None)
    received: list[tuple[datetime, float, float]] = []  # capture, wall time at decode, wall time at receipt

    async def read() -> None:
        async for frame in source:
            wall, mono = time.time(), time.monotonic()
            received.append((frame.capture_time, wall - (mono - frame.decoded_at), wall))

    async def frames_beyond(n: int) -> None:
        deadline = time.monotonic() + 15
        while len(received) < n:
            assert time.monotonic() < deadline, f"{len(received)} frames, expected {n}"
            await asyncio.sleep(0.05)

    await source.start()
    reader = asyncio.create_task(read())
    for _ in range(3):
        await frames_beyond(len(received) + 45)  # past the connect burst and the camera clock's takeover
        server.stop()
        await wait_state(source, SourceState.RECONNECTING)
        server.start()
        await wait_state(source, SourceState.STREAMING)
    await frames_beyond(len(received) + 45)
    await source.stop()
    await reader
    assert len(connects) == 4
    for capture, decoded, receipt in received:
        capture_s = capture.timestamp()
        assert capture_s <= receipt, f"captured {capture_s - receipt:+.6f}s after the frame was received"
        # `decoded_at` (monotonic) is read just after the capture time is set; 1 ms for reading two clocks
        assert capture_s <= decoded + 1e-3, f"captured {capture_s - decoded:+.6f}s after the frame was decoded"
        assert receipt - capture_s < 5
    captures = [capture for capture, _, _ in received]
    assert all(b > a for a, b in zip(captures, captures[1:]))  # strictly: within and across connections


async def test_a_camera_that_cannot_connect_warns_at_once_then_once_a_minute(caplog, monkeypatch):
    url = f"rtsp://viewer:s3cret@127.0.0.1:{free_port()}/live"  # nothing listens there
    source = RTSPSource("door", url, open_timeout_s=2.0, reconnect=FAST)

    def failures(level: int) -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("vigil.sources") and r.levelno == level]

    async def until(level: int, n: int) -> None:
        deadline = time.monotonic() + 10
        while len(failures(level)) < n:
            assert time.monotonic() < deadline, f"{failures(level)}, expected {n} at level {level}"
            await asyncio.sleep(0.02)

    with caplog.at_level(logging.DEBUG, logger="vigil"):
        await source.start()
        await until(logging.DEBUG, 3)  # attempts 2 to 4, within a second or two
        monkeypatch.setattr("vigil.sources.rtsp.FAILURE_WARNING_EVERY_S", 0.0)  # as if a minute had passed
        await until(logging.WARNING, 2)
        await source.stop()
    warnings = failures(logging.WARNING)
    assert len(warnings) == 2 and len(failures(logging.DEBUG)) == 3
    assert warnings[0].startswith("source 'door': reconnecting (source 'door': cannot open rtsp://viewer:***@127.0.0.1:")
    assert warnings[1].startswith("source 'door': still reconnecting, attempt 5 failed (source 'door': cannot open")
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize("where", ["wrong_path", "wrong_port"])
async def test_unreachable_stream_keeps_retrying_with_a_clear_masked_error(server, caplog, where):
    url = server.url("nope", "viewer:s3cret@") if where == "wrong_path" else f"rtsp://viewer:s3cret@127.0.0.1:{free_port()}/live"
    source = RTSPSource("door", url, open_timeout_s=2.0, reconnect=FAST)
    details: list[str] = []
    source.add_state_listener(lambda src, state, detail: details.append(detail))
    with caplog.at_level(logging.INFO):
        await source.start()  # a camera that is down is not an error at start-up
        deadline = time.monotonic() + 10
        while source.attempts < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await source.stop()
    assert source.attempts >= 3 and source.stats.emitted == 0
    assert source.last_error is not None and "source 'door': cannot open rtsp://viewer:***@127.0.0.1" in source.last_error
    text = caplog.text + " ".join(details) + (source.last_error or "")
    assert "s3cret" not in text and "retrying in" in text


async def test_eight_cameras_one_broken_the_others_unaffected(server):
    sources = [RTSPSource(f"cam{i}", server.url(), reconnect=FAST) for i in range(7)]
    broken = RTSPSource("broken", server.url("missing"), open_timeout_s=2.0, reconnect=FAST)
    for source in [*sources, broken]:
        await source.start()
    results = await asyncio.gather(*(take(s, 15, timeout=30) for s in sources))
    assert all(len(frames) == 15 for frames in results)
    assert broken.state is SourceState.RECONNECTING and broken.stats.emitted == 0
    for source in [*sources, broken]:
        await source.stop()


def test_vigil_run_reads_an_rtsp_camera_until_sigterm(server, tmp_path, nudenet_path):
    import json
    import signal
    import sys

    out = tmp_path / "r.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil",
            "run",
            "--model",
            str(nudenet_path),
            "--source",
            f"door={server.url(credentials='viewer:s3cret@')}",
            "--out",
            str(out),
            "--max-fps",
            "5",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while (not out.exists() or len(out.read_text().splitlines()) < 5) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert proc.returncode == 0, stderr
    assert len(records) >= 5 and {r["source"] for r in records} == {"door"}
    assert min(b["pts"] - a["pts"] for a, b in zip(records, records[1:])) >= 0.19  # --max-fps 5
    assert "s3cret" not in stderr


async def test_refused_credentials_keep_retrying_and_right_ones_stream(login_server, caplog):
    wrong = RTSPSource("gate", login_server.url(credentials="viewer:guess@"), open_timeout_s=2.0, reconnect=FAST)
    right = RTSPSource("gate2", login_server.url(credentials="viewer:letmein@"), reconnect=FAST)
    with caplog.at_level(logging.INFO):
        await wrong.start()
        await right.start()
        frames = await take(right, 10)
        deadline = time.monotonic() + 10
        while wrong.attempts < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await wrong.stop()
        await right.stop()
    assert len(frames) == 10
    assert wrong.stats.emitted == 0 and wrong.attempts >= 2
    assert "401 Unauthorized" in (wrong.last_error or "")
    assert "guess" not in caplog.text + (wrong.last_error or "") and "letmein" not in caplog.text
