"""The decoder protocol with `FakeDecoder` (tests/support/fake_decoder.py, no decoding library):
the source kinds keep sampling, clips, gates, loops, errors, reconnects and capture clocks for
themselves, so any decoder that follows the protocol gets all of them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.fake_decoder import FakeDecoder
from vigil.errors import SourceDecodeError, SourceOpenError
from vigil.packet import Packet, StreamParams
from vigil.sources import FileSource, ReconnectPolicy, RTSPSource, SourceState

FAST = ReconnectPolicy(initial_s=0.01, max_s=0.05, jitter=0.0)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A regular file for `FileSource` to check; the fake decoder never reads it."""
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not read")
    return path


class Recorder:
    """What a `ClipRecorder` is told by the decode thread."""

    def __init__(self) -> None:
        self.streams: list[StreamParams] = []
        self.packets: list[Packet] = []
        self.ended = 0

    def stream_opened(self, params: StreamParams) -> None:
        self.streams.append(params)

    def packet(self, packet: Packet) -> None:
        self.packets.append(packet)

    def stream_ended(self) -> None:
        self.ended += 1


async def collect(source, limit: int | None = None, timeout: float = 30.0) -> list:
    await source.start()
    frames = []

    async def read() -> None:
        async for frame in source:
            frames.append(frame)
            if limit is not None and len(frames) >= limit:
                return

    try:
        await asyncio.wait_for(read(), timeout)
    finally:
        await source.stop()
    return frames


async def test_a_file_source_with_a_fake_decoder_hands_on_every_picture_in_order(video):
    decoder = FakeDecoder(frames=30, fps=10.0)
    source = FileSource("fake", video, decoder=decoder)
    assert source.decoder_choice.name == "fake" and source.decoder_choice.reason == "given"
    frames = await collect(source)
    assert [f.seq for f in frames] == list(range(30))
    assert [f.pts for f in frames] == pytest.approx([n / 10 for n in range(30)])
    assert [int(f.image[0, 0, 0]) for f in frames] == list(range(30))  # each frame is its picture
    assert frames[0].image.shape == (48, 64, 3)
    assert source.stats.decoded == source.stats.emitted == 30 and source.expected_frames == 30
    assert [s.kind for s in decoder.specs] == ["file"] and decoder.specs[0].location == str(video.absolute())
    assert decoder.inputs[0].closed == 1 and source.state is SourceState.ENDED
    deltas = [(b.capture_time - a.capture_time).total_seconds() for a, b in zip(frames, frames[1:])]
    assert deltas == pytest.approx([0.1] * 29, abs=1e-5)  # a file keeps the stream's spacing


async def test_key_frames_only_when_they_come_often_enough_and_the_clips_still_get_every_packet(video):
    """max_fps 1 with a key frame a second: the decoder is given only the key frames."""
    decoder = FakeDecoder(frames=50, fps=10.0, gop=10)
    clips = Recorder()
    source = FileSource("fake", video, decoder=decoder, max_fps=1.0, clips=clips)  # type: ignore[arg-type]
    frames = await collect(source)
    assert decoder.inputs[0].taken == [0, 10, 20, 30, 40]
    assert [round(f.pts, 3) for f in frames] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert source.stats.skipped["non_key"] == 45 and source.stats.decoded == 5
    assert [int.from_bytes(p.data, "big") for p in clips.packets] == list(range(50))
    assert [p.key for p in clips.packets[:11]] == [True] + [False] * 9 + [True]


async def test_the_skip_non_reference_hint_reaches_the_decoder_and_its_skips_are_counted(video):
    """max_fps 2 of 10 fps, key frames every 2 s: not key frames only, but at most half the rate,
    so the decoder is asked to skip non-reference pictures from the first key frame on."""
    decoder = FakeDecoder(frames=60, fps=10.0, gop=20)
    source = FileSource("fake", video, decoder=decoder, max_fps=2.0)
    frames = await collect(source)
    opened = decoder.inputs[0]
    assert opened.hints and all(opened.hints)  # asked for every packet decoded
    skipped = sum(1 for n in opened.taken if n % 20 and n % 2)  # the fake skips odd non-key pictures
    assert source.stats.skipped["non_ref"] == skipped == 30
    assert source.stats.decoded == 60 - skipped
    assert len(frames) == source.stats.emitted
    assert source.stats.dropped["max_fps"] == source.stats.decoded - len(frames)
    assert len(frames) == 12 and all(int(f.image[0, 0, 0]) % 2 == 0 for f in frames)  # 2 a second of the 5 decoded


async def test_a_loop_rewinds_the_input_and_continues_the_clock_of_frames_and_clip_packets(video):
    decoder = FakeDecoder(frames=20, fps=10.0)
    clips = Recorder()
    source = FileSource("fake", video, decoder=decoder, loop=True, clips=clips)  # type: ignore[arg-type]
    frames = await collect(source, limit=45)  # two passes and more
    assert [p.fps for p in clips.streams] == [10.0] and clips.ended == 1  # one stream for all passes
    assert decoder.inputs[0].rewinds >= 2 and len(decoder.inputs) == 1
    assert [int.from_bytes(p.data, "big") for p in clips.packets[:40]] == list(range(20)) * 2
    assert [round(p.pts, 3) for p in clips.packets[18:22]] == [1.8, 1.9, 2.0, 2.1]  # the second pass follows on
    assert [f.seq for f in frames] == list(range(45))
    assert [round(f.pts, 3) for f in frames] == [round(n / 10, 3) for n in range(45)]


async def test_gates_see_the_decoders_luma_and_skipped_pictures_are_never_converted(video):
    seen: list[int] = []

    class EveryThird:
        def admit(self, frame) -> str | None:
            seen.append(int(frame.grey()[0, 0]))
            return None if len(seen) % 3 == 1 else "third"

    decoder = FakeDecoder(frames=9, fps=10.0)
    source = FileSource("fake", video, decoder=decoder, gates=[EveryThird()])
    frames = await collect(source)
    assert seen == list(range(9)) and [int(f.image[0, 0, 0]) for f in frames] == [0, 3, 6]
    assert [p.conversions for p in decoder.inputs[0].pictures] == [1, 0, 0] * 3
    assert source.stats.skipped["third"] == 6 and [f.skipped_before for f in frames] == [0, 2, 2]


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        (FakeDecoder(fail_open="Invalid data found"), "is not a readable video (Invalid data found); pass a video file"),
        (FakeDecoder(fail_open="no video"), "has no video stream (it has audio)"),
    ],
)
async def test_a_decoder_that_cannot_open_gives_the_kinds_own_message(video, fake, message):
    source = FileSource("fake", video, decoder=fake)
    with pytest.raises(SourceOpenError, match="source 'fake': ") as failed:
        await source.start()
    assert message in str(failed.value) and source.state is SourceState.FAILED


async def test_a_decoder_failing_part_way_ends_the_source_with_a_decode_error(video):
    source = FileSource("fake", video, decoder=FakeDecoder(frames=20, fail_at=7))
    await source.start()
    frames = []
    with pytest.raises(SourceDecodeError, match=r"source 'fake': decoding failed after 7 frames \(a broken picture\)"):
        async for frame in source:
            frames.append(frame)
    await source.stop()
    assert len(frames) == 7 and source.state is SourceState.FAILED


async def test_a_camera_reconnects_with_backoff_and_follows_its_clock_whatever_the_decoder():
    """The first two connections fail, the third streams 20 pictures and ends, so the camera
    connects again: reconnects, the masked error and the camera clock are the source's."""
    origin = time.time() - 5.0  # the camera's clock puts PTS 0 five seconds ago
    decoder = FakeDecoder(frames=20, fps=10.0, fail_open="Connection refused", fail_times=2, streams=2, wallclock_origin=origin)
    source = RTSPSource(
        "door", "rtsp://viewer:s3cret@127.0.0.1:1/live", reconnect=FAST, decoder=decoder, queue_size=64
    )  # room for every frame: none pushed out
    details: list[str] = []
    source.add_state_listener(lambda src, state, detail: details.append(detail))
    frames = await collect(source, limit=40)
    assert len(decoder.specs) >= 4 and decoder.specs[0].kind == "rtsp" and decoder.specs[0].transport == "tcp"
    assert [int(f.image[0, 0, 0]) for f in frames] == list(range(20)) * 2  # each connection from its key frame
    assert [f.seq for f in frames] == list(range(40)) and source.attempts >= 4
    assert source.capture_clock == "camera"  # the decoder's wallclock_origin, judged and followed
    for connection in (frames[:20], frames[20:]):  # each resends the camera's first 2 s: per connection
        assert all(b.capture_time > a.capture_time for a, b in zip(connection, connection[1:]))
        assert connection[0].capture_time.timestamp() == pytest.approx(origin, abs=1e-3)  # the camera's time of PTS 0
    assert any("cannot open rtsp://viewer:***@127.0.0.1:1/live (Connection refused)" in d for d in details)
    assert not any("s3cret" in d for d in details)
    assert all(opened.closed == 1 for opened in decoder.inputs[:-1])


async def test_a_camera_without_video_keeps_retrying():
    decoder = FakeDecoder(fail_open="no video")
    source = RTSPSource("door", "rtsp://127.0.0.1:1/live", reconnect=FAST, decoder=decoder)
    await source.start()
    deadline = time.monotonic() + 30
    while source.attempts < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await source.stop()
    assert source.attempts >= 3 and source.state is not SourceState.FAILED
    assert source.last_error == "source 'door': rtsp://127.0.0.1:1/live has no video stream"


async def test_frames_without_timestamps_follow_the_frame_rate(video):
    frames = await collect(FileSource("fake", video, decoder=FakeDecoder(frames=5, fps=None)))
    assert [round(f.pts, 3) for f in frames] == [0.0, 0.033, 0.067, 0.1, 0.133]  # 30 fps when the input says none
    assert np.array_equal(frames[2].image, np.full((48, 64, 3), 2, np.uint8))
