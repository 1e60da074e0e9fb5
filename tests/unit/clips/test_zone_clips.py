"""The zones stage and a real `ClipRecorder`: an object's clip is opened at `object_start` from
its first sighting, every event of the object carries its path (those held back until the start
too), its end closes it, and the stage's close waits for the clips."""

from __future__ import annotations

from pathlib import Path

import av

from tests.unit.clips.test_recorder import video  # noqa: F401 (a fixture)
from tests.unit.stages.test_zones_stage import FPS, result
from vigil.clips import ClipRecorder
from vigil.config.clips import ClipsConfig
from vigil.config.zones import ZonesStageConfig
from vigil.events import Event
from vigil.sources.decode.pyav import stream_params
from vigil.stages.base import StageContext
from vigil.stages.zones import ZoneStage


class Recorder(ClipRecorder):
    """A real recorder (no stream: it writes nothing) that notes what the stage asked."""

    def __init__(self, directory: Path, max_open: int = 4) -> None:
        super().__init__("cam", ClipsConfig(directory=str(directory), max_open=max_open))
        self.calls: list[tuple[str, int, float]] = []

    def open(self, tracker_id, *, start_pts, start_time):  # type: ignore[no-untyped-def]
        self.calls.append(("open", tracker_id, start_pts))
        return super().open(tracker_id, start_pts=start_pts, start_time=start_time)

    def close(self, tracker_id, *, end_pts, end_time=None):  # type: ignore[no-untyped-def]
        self.calls.append(("close", tracker_id, end_pts))
        super().close(tracker_id, end_pts=end_pts, end_time=end_time)


def run(stage: ZoneStage, frames: int, objects) -> list[Event]:  # type: ignore[no-untyped-def]
    events: list[Event] = []
    for seq in range(frames):
        events.extend(stage.process(result(seq, objects(seq))).records)  # type: ignore[arg-type]
    if stage.clips is not None:
        stage.clips.stream_ended()  # the source ends before its stages close
    events.extend(stage.close())  # type: ignore[arg-type]
    return events


def test_every_event_of_an_object_carries_its_clip_opened_at_its_first_sighting(tmp_path):
    recorder = Recorder(tmp_path)
    zone = {"name": "right", "polygon": [[300, 0], [640, 0], [640, 480], [300, 480]]}
    stage = ZoneStage(
        ZonesStageConfig.model_validate({"zones": [zone], "min_seen_s": 0.5, "lost_s": 0.5}), StageContext("cam", recorder)
    )
    # object 5 walks in inside the zone (its zone_enter is held until it starts) and leaves at frame 20
    events = run(stage, 30, lambda seq: [(5, (320 + seq, 300))] if seq < 20 else [])
    assert [e.type for e in events] == ["object_start", "zone_enter", "zone_exit", "object_end"]
    [clip] = {e.clip for e in events}
    assert clip is not None and Path(clip).name.endswith("_5.mp4") and Path(clip).parent.parent.parent == tmp_path
    assert recorder.calls == [("open", 5, 0.0), ("close", 5, 19 / FPS)]


def test_an_object_beyond_max_open_has_no_clip_in_its_events(tmp_path, video):
    recorder = Recorder(tmp_path, max_open=1)
    with av.open(str(video)) as container:
        recorder.stream_opened(stream_params(container.streams.video[0]))  # no packets: the first clip stays open
    stage = ZoneStage(ZonesStageConfig.model_validate({"min_seen_s": 0.2}), StageContext("cam", recorder))
    events = run(stage, 10, lambda seq: [(1, (100, 300)), (2, (400, 300))])
    clips = {e.tracker_id: e.clip for e in events}
    assert clips[1] is not None and clips[2] is None
    assert recorder.stats().skipped_busy == 1
    assert [c[:2] for c in recorder.calls] == [("open", 1), ("open", 2), ("close", 1)]
