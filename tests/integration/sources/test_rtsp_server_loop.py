"""The test RTSP server's looping mounts (`--mount NAME=PATH`, tests/support/rtsp_server.py): a
camera can be watched longer than its clip, its timestamps going on evenly across the loops,
each mount its own client pipeline; the old mounts still work beside them; a bad mount is refused
with a message."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.conftest import encode_clip, photo
from tests.support.ports import free_port

SERVER = Path(__file__).resolve().parents[2] / "support" / "rtsp_server.py"
FPS, FRAMES = 25, 20  # a 0.8 s clip with B-frames (decode order differs from display order)


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    return encode_clip(tmp_path_factory.mktemp("loop") / "short.mp4", photo("coffee"), FRAMES, size=(320, 240), fps=FPS)


@pytest.fixture
def server(short_clip):
    port = free_port()
    proc = subprocess.Popen(
        [
            "/usr/bin/python3",
            str(SERVER),
            str(port),
            "--mount",
            f"a={short_clip}",
            "--mount",
            f"b={short_clip}",
            "--file",
            str(short_clip),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", (
        f"the RTSP server did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
    )
    yield f"rtsp://127.0.0.1:{port}"
    proc.kill()
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()


def read(url: str, frames: int) -> list[Fraction]:
    """The display times (s) of the first `frames` frames decoded from `url` (TCP)."""
    options = {"rtsp_transport": "tcp", "timeout": "20000000"}  # µs: a stalled stream fails the test, never hangs it
    times: list[Fraction] = []
    with av.open(url, options=options, timeout=20) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.pts is not None:
                times.append(frame.pts * stream.time_base)
            if len(times) >= frames:
                break
    return times


def test_a_mount_loops_its_clip_with_timestamps_going_on_evenly(server):
    times = read(f"{server}/a", 3 * FRAMES + 5)  # past two ends of the clip
    assert len(times) == 3 * FRAMES + 5
    steps = [b - a for a, b in zip(times, times[1:])]
    assert all(abs(step - Fraction(1, FPS)) < Fraction(1, 4 * FPS) for step in steps), steps
    assert abs((times[-1] - times[0]) - Fraction(len(times) - 1, FPS)) < Fraction(1, FPS)


def test_each_mount_and_the_file_mount_serve_side_by_side(server):
    assert len(read(f"{server}/b", FRAMES + 5)) == FRAMES + 5  # another mount of the same file, also looping
    assert len(read(f"{server}/file", FRAMES // 2)) == FRAMES // 2  # the old mount still plays


@pytest.mark.parametrize(
    ("mount", "said"),
    [
        ("nameonly", "write --mount NAME=PATH"),
        ("x=/nonexistent/clip.mp4", "cannot serve /nonexistent/clip.mp4"),
    ],
)
def test_a_bad_mount_is_refused_with_a_message(mount, said):
    proc = subprocess.run(
        ["/usr/bin/python3", str(SERVER), str(free_port()), "--mount", mount], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0 and said in proc.stderr, proc.stderr
