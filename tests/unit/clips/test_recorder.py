"""`ClipRecorder` fed a real H.264 stream packet by packet, as a source's decode thread feeds it:
clips start at a key frame at most `pre_roll_s` before the object, end `post_roll_s` after it,
at most `max_open` at once, truncated at the stream's end or a new stream."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import av
import numpy as np
import pytest

from vigil.clips import ClipRecorder
from vigil.config.clips import ClipsConfig
from vigil.sources.decode.pyav import neutral_packet, stream_params

FPS, GOP = 10, 5
START = datetime(2026, 11, 24, 0, 31, 12, 633000, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of a moving gradient, a key frame every half second, B-frames."""
    path = tmp_path_factory.mktemp("recorder") / "v.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"g": str(GOP), "keyint_min": str(GOP), "bf": "2", "sc_threshold": "0", "preset": "veryfast"}
        for t in range(6 * FPS):
            image = np.full((120, 160, 3), (t * 4) % 256, np.uint8)
            image[:, t % 160] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def feed(recorder: ClipRecorder, video: Path, until: float = 99.0, *, end: bool = True, actions=None) -> None:
    """The decode thread's part: the stream opens, its packets (up to `until` s), it ends;
    `actions[second]` runs once the packets before that second went in."""
    pending = dict(actions or {})
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        recorder.stream_opened(stream_params(stream))
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None:
                seconds = float(packet.pts * packet.time_base)
                for at in sorted(a for a in pending if a <= seconds):
                    pending.pop(at)()
                if seconds > until:
                    break
            if (copied := neutral_packet(packet)) is not None:
                recorder.packet(copied)
    if end:
        recorder.stream_ended()


def clip_times(path: Path, video: Path) -> list[float]:
    """The source PTS of the clip's frames (each frame is matched by its packet's bytes and
    its place in decoding order), sorted."""
    with av.open(str(video)) as container:
        source = [(bytes(p), float(p.pts * p.time_base)) for p in container.demux(video=0) if p.size]
    with av.open(str(path)) as container:
        packets = [bytes(p) for p in container.demux(video=0) if p.size]
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == len(packets)  # it decodes, every frame
    data = [d for d, _ in source]
    at = next(i for i in range(len(data)) if data[i : i + len(packets)] == packets)
    return sorted(t for _, t in source[at : at + len(packets)])


def recorder(tmp_path: Path, **settings) -> ClipRecorder:
    return ClipRecorder("cam", ClipsConfig(directory=str(tmp_path), **settings))


def test_a_clip_runs_from_a_key_frame_within_pre_roll_to_post_roll_after_the_object(tmp_path, video):
    clips = recorder(tmp_path, pre_roll_s=1.2, post_roll_s=1.0)
    paths: list[str | None] = []
    feed(
        clips,
        video,
        actions={
            2.5: lambda: paths.append(clips.open(3, start_pts=2.1, start_time=START)),  # the stage learns late
            3.5: lambda: clips.close(3, end_pts=3.0),
        },
    )
    assert clips.flush(10)
    [path] = paths
    assert path == str(tmp_path / "cam" / "2026-11-24" / "cam_20261124T003112.633Z_3.mp4")
    times = clip_times(Path(path), video)
    assert times[0] == pytest.approx(1.0)  # the first key frame at or after 2.1 - 1.2
    # 3.0 + post-roll, and no further than the reference frame the last B-frames need
    assert 4.0 <= times[-1] <= 4.0 + 3 / FPS + 1e-6
    assert len(times) == round((times[-1] - times[0]) * FPS) + 1  # every frame between
    assert clips.stats().written == 1 and clips.stats().errors == 0


def test_a_stream_that_ends_first_finishes_the_clip_with_what_there_is(tmp_path, video):
    clips = recorder(tmp_path, pre_roll_s=0.5, post_roll_s=5.0)
    paths: list[str | None] = []
    feed(clips, video, until=3.0, actions={2.0: lambda: paths.append(clips.open(1, start_pts=1.8, start_time=START))})
    assert clips.flush(10)
    times = clip_times(Path(paths[0]), video)
    assert times[0] == pytest.approx(1.5) and times[-1] == pytest.approx(3.0, abs=0.25)
    assert not list(tmp_path.rglob("*.partial"))


def test_a_new_stream_finishes_the_clips_of_the_last_one(tmp_path, video):
    clips = recorder(tmp_path, pre_roll_s=0.0, post_roll_s=1.0)
    paths: list[str | None] = []
    feed(clips, video, until=2.0, end=False, actions={1.2: lambda: paths.append(clips.open(1, start_pts=1.0, start_time=START))})
    feed(clips, video, until=1.0)  # a camera reconnected: its clock starts again
    clips.close(1, end_pts=1.5)
    assert clips.flush(10)
    times = clip_times(Path(paths[0]), video)
    assert times[0] == pytest.approx(1.0) and times[-1] == pytest.approx(2.0, abs=0.25)


def test_objects_beyond_max_open_get_no_clip_and_are_counted(tmp_path, video):
    clips = recorder(tmp_path, max_open=2, pre_roll_s=0.0, post_roll_s=0.0)
    got: list[str | None] = []
    feed(
        clips,
        video,
        until=3.0,
        end=False,
        actions={
            1.0: lambda: got.extend(clips.open(i, start_pts=1.0, start_time=START) for i in (1, 2, 3)),
            2.0: lambda: clips.close(1, end_pts=1.5),
            2.5: lambda: clips.flush(10) and got.append(clips.open(4, start_pts=2.5, start_time=START)),  # 1 is written
        },
    )
    clips.stream_ended()
    assert clips.flush(10)
    assert [p is not None for p in got] == [True, True, False, True]
    stats = clips.stats()
    assert stats.skipped_busy == 1 and stats.written == 3 and stats.errors == 0
    assert sorted(p.name for p in tmp_path.rglob("*.mp4")) == sorted(Path(p).name for p in got if p)


def test_the_buffer_stays_within_buffer_mb(tmp_path, video):
    clips = recorder(tmp_path, pre_roll_s=60, buffer_mb=1)
    feed(clips, video, end=False)
    assert clips.flush(10)
    with av.open(str(video)) as container:
        total = sum(p.size for p in container.demux(video=0))
    assert 0 < clips.stats().bytes_buffered <= min(total, 1 << 20)
    clips.stream_ended()


def test_a_stream_an_mp4_cannot_hold_gives_no_clips_and_leaves_the_source_running(tmp_path, caplog):
    raw = tmp_path / "raw.mkv"
    with av.open(str(raw), "w") as container:
        stream = container.add_stream("rawvideo", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((24, 32, 3), np.uint8), format="bgr24")))
        container.mux(stream.encode())
    clips = recorder(tmp_path)
    got: list[str | None] = []
    feed(clips, raw, actions={0.1: lambda: got.append(clips.open(1, start_pts=0.0, start_time=START))})
    assert got == [None] and clips.flush(10)
    assert "no clips of this stream: its rawvideo video cannot go into an MP4" in caplog.text
    assert not list(tmp_path.rglob("*.mp4*"))
