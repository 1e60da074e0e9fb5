"""Sources on real media: H.264 files encoded here, FFmpeg's lavfi test pattern as a camera."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import encode_clip, photo
from vigil.errors import SourceDecodeError, SourceOpenError
from vigil.sources import FileSource, SourceState, WebcamSource


def gop_clip(path: Path, seconds: float, fps: int = 30, gop: int = 30, size=(320, 240), preset: str = "ultrafast") -> Path:
    """A clip with a key frame every `gop` frames and B-frames, like a camera's stream
    (`preset` ultrafast: one B-frame in three; slower presets: two in three, references only
    every third frame)."""
    frames = int(seconds * fps)
    base = np.ascontiguousarray(np.resize(photo("astronaut"), (size[1], size[0] + frames, 3)))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "bf": "2",
            "preset": preset,
            "b-pyramid": "none",
        }
        stream.time_base = Fraction(1, fps * 512)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, i : i + size[0]]), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


async def collect(source, limit: int | None = None, delay: float = 0.0) -> list:
    await source.start()
    frames = []
    async for frame in source:
        frames.append(frame)
        if delay:
            await asyncio.sleep(delay)
        if limit is not None and len(frames) >= limit:
            break
    await source.stop()
    return frames


async def test_state_changes_are_reported_to_listeners(clips):
    source = FileSource("a", clips["coffee"])
    seen = []
    source.add_state_listener(lambda src, state, detail: seen.append(state))
    await collect(source)
    await asyncio.sleep(0.05)
    assert seen == [SourceState.STREAMING, SourceState.ENDED]
    assert source.stats.decoded == source.stats.emitted == 18


async def test_failed_open_reports_failed_state(tmp_path):
    source = FileSource("a", tmp_path / "nope.mp4")
    with pytest.raises(SourceOpenError):
        await source.start()
    assert source.state is SourceState.FAILED


async def test_realtime_file_is_paced_by_pts(clips):
    source = FileSource("a", clips["astronaut"], realtime=True)
    t0 = time.monotonic()
    frames = await collect(source)
    elapsed = time.monotonic() - t0
    assert len(frames) == 24 and source.live
    assert elapsed >= 23 / 30 * 0.9  # 24 frames at 30 fps cannot arrive faster than their PTS


async def test_realtime_file_keeps_the_newest_frames_for_a_slow_consumer(clips):
    source = FileSource("a", clips["astronaut"], realtime=True, queue_size=2)
    frames = await collect(source, delay=0.2)  # a consumer far slower than 30 fps
    assert source.stats.dropped["queue_full"] > 0
    assert len(frames) + source.stats.dropped["queue_full"] == 24
    assert frames[-1].seq == 23  # the newest frame got through


async def test_loop_continues_pts_and_sequence(clips):
    frames = await collect(FileSource("a", clips["coffee"], loop=True), limit=45)
    assert [f.seq for f in frames] == list(range(45))
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in zip(pts, pts[1:]))
    assert pts[18] == pytest.approx(18 / 30, abs=1e-6)  # the second pass starts one frame after the first ends


async def test_max_fps_1_on_1s_gop_decodes_key_frames_only(tmp_path):
    path = gop_clip(tmp_path / "gop.mp4", seconds=5)
    source = FileSource("a", path, max_fps=1)
    frames = await collect(source)
    assert len(frames) == 5
    assert [round(f.pts) for f in frames] == [0, 1, 2, 3, 4]
    assert source.stats.decoded <= 7  # a key frame a second (+ what arrives before the GOP is known)
    assert source.stats.skipped["non_key"] >= 140


async def test_max_fps_above_key_frame_rate_decodes_and_drops(tmp_path):
    path = gop_clip(tmp_path / "gop.mp4", seconds=3)
    source = FileSource("a", path, max_fps=10)
    frames = await collect(source)
    assert 28 <= len(frames) <= 31
    gaps = np.diff([f.pts for f in frames])
    assert gaps.min() >= 0.099 * 0.99
    assert source.stats.dropped["max_fps"] + source.stats.skipped["non_key"] > 0


async def test_max_fps_at_most_half_the_frame_rate_skips_non_reference_frames_undecoded(tmp_path):
    path = gop_clip(tmp_path / "gop.mp4", seconds=3, gop=90)  # one key frame: key-only cannot serve 10 fps
    source = FileSource("a", path, max_fps=10)
    frames = await collect(source)
    stats = source.stats
    assert stats.skipped["non_ref"] > 0  # B-frames the decoder never decoded
    assert stats.decoded + stats.skipped["non_ref"] == 90  # exact once the stream has ended
    assert stats.emitted == len(frames) == 90 - stats.skipped["non_ref"] - stats.dropped["max_fps"]
    assert 25 <= len(frames) <= 31
    assert np.diff([f.pts for f in frames]).min() >= 0.099 * 0.99


@pytest.mark.parametrize("max_fps", [12, 15])
async def test_max_fps_keeps_its_rate_when_b_frames_leave_fewer_references_than_it_asks(tmp_path, max_fps):
    # Two B-frames in three: skipping non-reference frames leaves 10 fps, below the asked rate,
    # so the source must notice and decode them again; and the reference frames' uneven gaps
    # (1 and 2 periods) must not make the sampler keep fewer than asked.
    path = gop_clip(tmp_path / "bf.mp4", seconds=6, gop=180, preset="veryfast")
    source = FileSource("a", path, max_fps=max_fps)
    frames = await collect(source)
    assert max_fps * 6 * 0.95 <= len(frames) <= max_fps * 6 + 1  # less the first half second's check
    assert np.diff([f.pts for f in frames]).min() >= 0.25 / max_fps * 0.99


async def test_lavfi_testsrc_stands_in_for_a_v4l2_webcam():
    source = WebcamSource("cam", "testsrc=size=320x240:rate=30", driver="lavfi", max_fps=10)
    frames = await collect(source, limit=6)
    assert source.live and len(frames) == 6
    assert frames[0].image.shape == (240, 320, 3)
    assert all(b.pts > a.pts for a, b in zip(frames, frames[1:]))


async def test_missing_v4l2_device_is_a_clear_error():
    with pytest.raises(SourceOpenError, match="cannot open video4linux2 device /dev/video99"):
        await WebcamSource("cam", "/dev/video99", size=(640, 480), fps=30, input_format="mjpeg").start()


def test_audio_only_file_is_refused_naming_what_it_has(tmp_path):
    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(20):
            samples = (np.sin(np.arange(1024) / 10.0) * 1000).astype(np.int16)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(SourceOpenError, match="has no video stream \\(it has audio\\)"):
        asyncio.run(FileSource("a", path).start())


async def test_truncated_mp4_gives_a_clear_error_or_the_frames_before_the_cut(tmp_path):
    whole = encode_clip(tmp_path / "whole.mp4", photo("coffee"), frames=30)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    source = FileSource("a", cut)
    try:
        frames = await collect(source)
    except (SourceOpenError, SourceDecodeError) as exc:
        assert "source 'a'" in str(exc)
    else:
        assert len(frames) < 30


async def test_corrupt_mp4_does_not_crash_and_names_the_source(tmp_path):
    whole = encode_clip(tmp_path / "whole.mp4", photo("coffee"), frames=30)
    data = bytearray(whole.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    source = FileSource("a", bad)
    try:
        frames = await collect(source)
    except (SourceOpenError, SourceDecodeError) as exc:
        assert "source 'a'" in str(exc)
    else:
        assert 0 < len(frames) <= 30
