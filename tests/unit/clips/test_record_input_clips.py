"""A clip recorder fed by a camera's record input (`inputs:`): the object's start and end come on
the detect input's clock, the packets on the record input's, so the clip is cut by capture time
(the record input's offset, capture time minus PTS), and the clip names the input it came from."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import av
import pytest

from tests.unit.clips.test_recorder import FPS, clip_times, feed, recorder, video  # noqa: F401 - `video` is a fixture
from tests.unit.stages.rules.scene import Scene
from tests.unit.stages.rules.scene import at as scene_at
from vigil.clips import ClipRecorder
from vigil.config.clips import ClipsConfig
from vigil.stages.rules.lifecycle import LifecycleRule

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
RECORD_OFFSET = 1_795_000_000.25  # the record input's capture time of its PTS 0 (POSIX seconds)
URL = "rtsp://viewer:***@10.0.0.5/main"


def at(record_pts: float) -> datetime:
    """The capture time of the record input's PTS `record_pts`."""
    return EPOCH + timedelta(seconds=RECORD_OFFSET + record_pts)


def separate(tmp_path: Path, **settings) -> ClipRecorder:
    clips = recorder(tmp_path, **settings)
    clips.from_input(1, URL, separate=True)
    return clips


def test_a_record_inputs_clip_is_cut_by_capture_time_whatever_the_detect_inputs_pts(tmp_path, video):  # noqa: F811
    clips = separate(tmp_path, pre_roll_s=1.2, post_roll_s=1.0)
    paths: list[str | None] = []
    # The detect input's PTS (400 s into its own connection) have nothing to do with the record input's.
    feed(
        clips,
        video,
        actions={
            0.0: lambda: clips.capture_offset(RECORD_OFFSET),  # after the stream opened, before its packets
            2.5: lambda: paths.append(clips.open(3, start_pts=400.0, start_time=at(2.1))),
            3.5: lambda: clips.close(3, end_pts=401.0, end_time=at(3.0)),
        },
    )
    assert clips.flush(10)
    [path] = paths
    times = clip_times(Path(str(path)), video)
    assert times[0] == pytest.approx(1.0)  # the first key frame at or after 2.1 - 1.2, on the record input's clock
    assert 4.0 <= times[-1] <= 4.0 + 3 / FPS + 1e-6  # 3.0 + post-roll
    assert clips.stats().written == 1 and clips.stats().errors == 0
    with av.open(str(path)) as container:
        comment = container.metadata.get("comment", "")
    assert comment.startswith(f"vigil clip of source cam: input 1 (record), {URL}; starts at ")
    start = datetime.fromisoformat(comment.rsplit("starts at ", 1)[1].split(" ")[0].replace("Z", "+00:00"))
    assert abs((start - at(1.0)).total_seconds()) < 1e-3  # the first frame's capture time
    assert clips.origin == {"input": "record", "index": 1, "url": URL}


def test_without_the_record_inputs_clock_an_object_gets_no_clip(tmp_path, video):  # noqa: F811
    clips = separate(tmp_path)
    paths: list[str | None] = []
    feed(clips, video, until=2.0, actions={1.5: lambda: paths.append(clips.open(1, start_pts=1.0, start_time=at(1.0)))})
    assert clips.flush(10)
    assert paths[0] is not None and not Path(paths[0]).exists()  # no offset was told: nothing to cut by
    assert clips.stats().written == 0 and clips.stats().errors == 1


def test_the_detect_inputs_own_clock_ends_a_clip_closed_without_its_capture_time(tmp_path, video):  # noqa: F811
    clips = separate(tmp_path, pre_roll_s=0.0, post_roll_s=0.5)
    paths: list[str | None] = []
    detect_offset = RECORD_OFFSET - 300.0  # capture time minus the detect input's PTS
    feed(
        clips,
        video,
        actions={
            0.0: lambda: clips.capture_offset(RECORD_OFFSET),
            2.2: lambda: paths.append(clips.open(1, start_pts=302.0, start_time=at(2.0))),
            3.5: lambda: clips.close(1, end_pts=RECORD_OFFSET + 2.5 - detect_offset),  # end_time unknown: 2.5 on the record clock
        },
    )
    assert clips.flush(10)
    times = clip_times(Path(str(paths[0])), video)
    assert times[0] == pytest.approx(2.0) and 3.0 <= times[-1] <= 3.0 + 3 / FPS + 1e-6


class Noted(ClipRecorder):
    """A real recorder in record-input mode (no stream: it writes nothing) noting what the rule asked."""

    def __init__(self, directory: Path) -> None:
        super().__init__("cam", ClipsConfig(directory=str(directory)))
        self.from_input(1, URL, separate=True)
        self.closed: list[tuple[int, float, datetime | None]] = []

    def close(self, tracker_id, *, end_pts, end_time=None):  # type: ignore[no-untyped-def]
        self.closed.append((tracker_id, end_pts, end_time))
        super().close(tracker_id, end_pts=end_pts, end_time=end_time)


def test_the_objects_start_and_end_events_name_the_input_its_clip_comes_from(tmp_path):
    clips = Noted(tmp_path)
    scene = Scene(clips, min_seen_s=0.2)
    rule = LifecycleRule(scene.context)
    events = [e for seq in range(5) for e in rule.observe(scene.view(seq, {3: (100, 300)}))]
    (start,) = [e for e in events if e.type == "object_start"]
    (end,) = rule.end(scene.objects[3])
    expected = {"input": "record", "index": 1, "url": URL}
    assert start.to_record()["clip_input"] == expected and end.to_record()["clip_input"] == expected
    assert start.clip and start.clip == end.clip
    assert clips.closed == [(3, 0.4, scene_at(4))]  # closed by the last sighting's capture time
    plain = Scene(ClipRecorder("cam", ClipsConfig(directory=str(tmp_path))), min_seen_s=0.2)  # a url: camera
    rule = LifecycleRule(plain.context)
    events = [e for seq in range(5) for e in rule.observe(plain.view(seq, {3: (100, 300)}))]
    assert events and all("clip_input" not in e.to_record() for e in events + rule.end(plain.objects[3]))
