"""FileSource on real H.264 files decoded with PyAV."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.conftest import decoded_frame_count
from vigil.errors import SourceOpenError
from vigil.sources import FileSource


async def test_every_frame_arrives_in_display_order_with_pts(clips):
    source = FileSource("a", clips["astronaut"])
    await source.start()
    frames = [f async for f in source]
    await source.stop()
    assert len(frames) == decoded_frame_count(clips["astronaut"]) == 24
    assert [f.seq for f in frames] == list(range(24))
    assert [round(f.pts * 30) for f in frames] == list(range(24))  # B-frames reordered to display order
    assert all(f.image.shape == (480, 640, 3) for f in frames)
    deltas = [(b.capture_time - a.capture_time).total_seconds() for a, b in zip(frames, frames[1:])]
    assert all(abs(d - 1 / 30) < 1e-3 for d in deltas)


async def test_decoding_waits_for_a_slow_consumer(clips):
    source = FileSource("a", clips["astronaut"], queue_size=2)
    await source.start()
    await asyncio.sleep(0.5)  # plenty of time to decode all 24 frames if nothing held it back
    assert source.stats.decoded <= 3
    frames = [f async for f in source]
    assert len(frames) == 24  # nothing was dropped while waiting
    await source.stop()


async def test_stop_ends_iteration_and_the_decode_thread(clips):
    source = FileSource("a", clips["astronaut"], queue_size=2)
    await source.start()
    seen = []
    async for frame in source:
        seen.append(frame.seq)
        if len(seen) == 3:
            await source.stop()
    assert seen[:3] == [0, 1, 2] and len(seen) <= 6
    assert source._thread is None


@pytest.mark.parametrize("content, message", [(None, "file not found"), (b"\x00junk" * 1000, "is not a readable video")])
async def test_open_errors_name_the_source_and_the_file(tmp_path, content, message):
    path = tmp_path / "cam.mp4"
    if content is not None:
        path.write_bytes(content)
    source = FileSource("door", path)
    with pytest.raises(SourceOpenError, match=message) as info:
        await source.start()
    assert "source 'door'" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("devnull", "is a character device, not a regular video file"),
        ("directory", "is a directory, not a regular video file"),
        ("fifo", r"is a named pipe \(FIFO\), not a regular video file"),
        ("inside-a-file", "file not found"),
    ],
)
async def test_what_is_not_a_regular_file_is_named_for_what_it_is(tmp_path, kind, message):
    """FFmpeg would block on a FIFO nobody writes and find no stream in /dev/null."""
    paths = {
        "devnull": Path("/dev/null"),
        "directory": tmp_path,
        "fifo": tmp_path / "pipe",
        "inside-a-file": tmp_path / "f" / "x",
    }
    path = paths[kind]
    if kind == "fifo":
        os.mkfifo(path)
    (tmp_path / "f").write_bytes(b"")
    source = FileSource("door", path)
    with pytest.raises(SourceOpenError, match=message) as info:
        await source.start()
    assert "source 'door'" in str(info.value) and str(path) in str(info.value)
