"""A camera with a substream to detect on and a main stream to record, against two real GStreamer
RTSP servers (one process per URL, each playing a clip of the same moving scene: 640x360 "sub",
1280x720 "main"), built from `sources[].inputs` by the camera factory. Killing either server
leaves the other input running; the killed one reconnects when its server is back."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path

import av
import numpy as np
import pytest

from vigil.clips import ClipRecorder
from vigil.config.sources import RtspSourceConfig, SourceConfig
from vigil.frame import Frame
from vigil.sources import RTSPSource, SourceState
from vigil.sources.kinds import SourceContext, make_rtsp_source
from vigil.sources.record import RecordInput

SERVER = Path(__file__).resolve().parents[2] / "support" / "rtsp_server.py"
FPS, SECONDS = 15, 40  # each server plays its clip from the start for each connection


def scene(size: tuple[int, int], seconds: int) -> list[np.ndarray]:
    """The same moving scene at any size: a gradient, a bright square crossing it."""
    width, height = size
    base = np.tile(np.linspace(40, 160, width, dtype=np.uint8)[None, :, None], (height, 1, 3))
    frames = []
    for t in range(seconds * FPS):
        image = base.copy()
        x = int((t * 7) % (width - width // 8))
        image[height // 3 : height // 3 + height // 8, x : x + width // 8] = (255, 255, 255)
        frames.append(image)
    return frames


def encode(path: Path, size: tuple[int, int]) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"g": str(FPS), "keyint_min": str(FPS), "bf": "0", "sc_threshold": "0", "preset": "ultrafast"}
        for image in scene(size, SECONDS):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def streams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    return {"sub": encode(folder / "sub.mp4", (640, 360)), "main": encode(folder / "main.mp4", (1280, 720))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One RTSP server process serving one clip at /file; stopped by killing it, started again on its port."""

    def __init__(self, clip: Path) -> None:
        self.port, self.clip = free_port(), clip
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Server:
        for _ in range(50):  # the port may still be held for a moment after a kill
            self.proc = subprocess.Popen(
                ["/usr/bin/python3", str(SERVER), str(self.port), "--file", str(self.clip)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert self.proc.stdout is not None
            if self.proc.stdout.readline().strip() == "ready":
                return self
            self.kill()
            time.sleep(0.2)
        pytest.fail(f"the GStreamer RTSP server ({SERVER}) did not start on port {self.port}; `make services` installs it")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/file"


@pytest.fixture
def servers(streams):
    started = {name: Server(clip).start() for name, clip in streams.items()}
    yield started
    for server in started.values():
        server.kill()


def camera(servers: dict[str, Server], tmp_path: Path) -> tuple[RTSPSource, RecordInput, ClipRecorder]:
    config = SourceConfig.model_validate(
        {
            "name": "door",
            "inputs": [{"url": servers["sub"].url, "roles": ["detect"]}, {"url": servers["main"].url, "roles": ["record"]}],
            "clips": {"directory": str(tmp_path / "clips"), "pre_roll_s": 1.0, "post_roll_s": 1.0},
            "open_timeout_s": 3,
            "stall_timeout_s": 2,
            "reconnect": {"initial_s": 0.2, "max_s": 1.0},
        }
    )
    assert isinstance(config, RtspSourceConfig) and config.clips is not None
    clips = ClipRecorder(config.name, config.clips)
    source = make_rtsp_source(config, SourceContext(clips=clips))
    assert isinstance(source.record, RecordInput)
    return source, source.record, clips


class Reader:
    """Reads the camera's frames on the event loop in the background, as the pipeline would."""

    def __init__(self, source: RTSPSource) -> None:
        self.frames: list[Frame] = []
        self._task = asyncio.create_task(self._read(source))

    async def _read(self, source: RTSPSource) -> None:
        async for frame in source:
            self.frames.append(frame)

    async def more(self, n: int, timeout: float = 60.0) -> list[Frame]:
        """`n` frames more than there are now (waiting up to `timeout`)."""
        start = len(self.frames)
        await until(lambda: len(self.frames) >= start + n or self._task.done(), timeout, f"{n} more frames")
        assert not self._task.done(), "the camera stopped giving frames"
        return self.frames[start : start + n]

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what}"
        await asyncio.sleep(0.05)


async def event_clip(reader: Reader, clips: ClipRecorder, tracker_id: int) -> tuple[Path, datetime, datetime]:
    """An object seen over ~1.5 s of the detect input's frames; its clip once written."""
    [first] = await reader.more(1)
    path = clips.open(tracker_id, start_pts=first.pts, start_time=first.capture_time)
    assert path is not None
    last = (await reader.more(int(1.5 * FPS)))[-1]
    clips.close(tracker_id, end_pts=last.pts, end_time=last.capture_time)
    await until(lambda: Path(path).exists(), 60, "the clip written")
    return Path(path), first.capture_time, last.capture_time


def played(path: Path) -> tuple[int, int, int, float, str]:
    """(width, height, frames decoded, seconds covered, comment) of a clip."""
    with av.open(str(path)) as container:
        comment = container.metadata.get("comment", "")
        frames = list(container.decode(video=0))
    assert frames, f"{path} holds no frame"
    span = float(frames[-1].time - frames[0].time) + 1.0 / FPS
    return frames[0].width, frames[0].height, len(frames), span, comment


def clip_start(comment: str) -> datetime:
    return datetime.fromisoformat(comment.rsplit("starts at ", 1)[1].split(" ")[0].replace("Z", "+00:00"))


@pytest.mark.serial  # real-time streams: the clip must cover the event's capture times
async def test_detect_on_the_substream_and_clips_from_the_main_stream_cover_the_event(servers, tmp_path):
    source, record, clips = camera(servers, tmp_path)
    await source.start()
    reader = Reader(source)
    try:
        frames = await reader.more(2 * FPS)
        assert {f.image.shape for f in frames} == {(360, 640, 3)}  # detection sees the substream
        await until(lambda: record.state is SourceState.STREAMING and record.packets > 2 * FPS, 30, "the record input streaming")
        path, start, end = await event_clip(reader, clips, 1)
        # The server sends RTCP sender reports: each input's capture times follow its camera clock.
        await until(lambda: [i.clock for i in source.inputs] == ["camera", "camera"], 30, "the camera's clock on both inputs")
    finally:
        await reader.close()
        await source.stop()
    width, height, count, span, comment = played(path)
    assert (width, height) == (1280, 720) and count >= FPS  # the main stream, and it plays
    assert comment.startswith(f"vigil clip of source door: input 1 (record), {servers['main'].url}; starts at ")
    first = clip_start(comment)
    # Cut by capture time: from a key frame at most pre_roll_s before the object to post_roll_s after it.
    assert (start - first).total_seconds() >= -0.2 and (start - first).total_seconds() <= 2.2
    assert (first - end).total_seconds() + span >= 0.8
    assert clips.origin == {"input": "record", "index": 1, "url": servers["main"].url}
    assert clips.stats().errors == 0 and record.stats.decoded == 0  # demuxed, never decoded


@pytest.mark.serial  # kills and restarts a server while the camera runs
async def test_a_killed_record_server_leaves_detection_running_and_clips_resume_when_it_is_back(servers, tmp_path):
    source, record, clips = camera(servers, tmp_path)
    await source.start()
    reader = Reader(source)
    try:
        await until(lambda: record.state is SourceState.STREAMING and record.packets > FPS, 30, "the record input streaming")
        servers["main"].kill()
        await until(lambda: record.state is SourceState.RECONNECTING, 30, "the record input reconnecting")
        frames = await reader.more(2 * FPS)  # detection goes on meanwhile
        assert source.state is SourceState.STREAMING and record.state is not SourceState.STREAMING
        assert [i.state for i in source.inputs] == [SourceState.STREAMING, SourceState.RECONNECTING]
        assert source.inputs[1].last_error and source.inputs[1].retry_in_s is not None
        assert all(f.image.shape == (360, 640, 3) for f in frames)
        servers["main"].start()
        await until(lambda: record.state is SourceState.STREAMING and record.connections >= 2, 30, "the record input back")
        await until(lambda: record.packets > 0 and clips.stats().bytes_buffered > 0, 30, "packets in the ring again")
        await reader.more(FPS)  # a second of the main stream in the ring for pre-roll
        path, _, _ = await event_clip(reader, clips, 2)
        assert played(path)[:2] == (1280, 720)
    finally:
        await reader.close()
        await source.stop()


@pytest.mark.serial  # kills and restarts a server while the camera runs
async def test_a_killed_detect_server_leaves_the_record_input_filling_the_clip_ring(servers, tmp_path):
    source, record, clips = camera(servers, tmp_path)
    await source.start()
    reader = Reader(source)
    try:
        await reader.more(FPS)
        await until(lambda: record.state is SourceState.STREAMING, 30, "the record input streaming")
        servers["sub"].kill()
        await until(lambda: source.state is SourceState.RECONNECTING, 30, "the detect input reconnecting")
        before = record.packets
        await until(lambda: record.packets >= before + 2 * FPS, 30, "two seconds of the main stream meanwhile")
        assert record.state is SourceState.STREAMING and source.state is SourceState.RECONNECTING
        assert clips.stats().bytes_buffered > 0  # the ring keeps the main stream
        servers["sub"].start()
        frames = await reader.more(FPS)
        assert source.state is SourceState.STREAMING and source.connections >= 2
        assert all(f.image.shape == (360, 640, 3) for f in frames)
        assert record.connections == 1  # never disturbed
    finally:
        await reader.close()
        await source.stop()
    assert os.path.isdir(tmp_path) and source.record is record
