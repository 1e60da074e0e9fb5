"""The `zones` stage on scripted tracks: boxes with tracker ids moving on known paths, frames at
known capture times; the events it emits, exactly and in order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from vigil import Frame
from vigil.config.zones import ZonesStageConfig
from vigil.engine import Detections
from vigil.events import Event
from vigil.result import InferenceResult, Timings
from vigil.stages.base import StageContext
from vigil.stages.zones import ZoneStage

T0 = datetime(2026, 11, 29, 5, 0, 0, tzinfo=timezone.utc)
FPS = 10.0
IMAGE = np.zeros((480, 640, 3), np.uint8)
NAMES = ["person", "car"]
# One object at a frame: (tracker_id, (x, y) of its bottom centre), class 0 unless given third.
Obj = tuple[Any, ...]


def utc(moment) -> str:
    """A capture time as records write it."""
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def result(seq: int, objects: Sequence[Obj], *, tracked: bool = True, image: np.ndarray = IMAGE) -> InferenceResult:
    boxes = [[x - 10, y - 20, x + 10, y] for _, (x, y), *_ in objects]
    classes = [o[2] if len(o) > 2 else 0 for o in objects]
    dets = Detections(
        xyxy=np.array(boxes, np.float32).reshape(len(objects), 4),
        confidence=np.array([0.5 + 0.01 * (seq % 10) for _ in objects], np.float32),
        class_id=np.array(classes, np.int64),
        data={"class_name": np.array([NAMES[c] for c in classes], dtype=str)},
        tracker_id=np.array([o[0] for o in objects], np.int64) if tracked else None,
    )
    frame = Frame("cam", seq, seq / FPS, at(seq), image)
    return InferenceResult(frame, "m", dets, Timings(0, 0, 0, 0, 0))


def at(seq: int) -> datetime:
    return T0 + timedelta(seconds=seq / FPS)


def run(config: dict[str, Any], frames: Sequence[Sequence[Obj]], **kwargs: Any) -> list[Event]:
    stage = ZoneStage(ZonesStageConfig.model_validate(config), StageContext("cam"))
    events: list[Event] = []
    for seq, objects in enumerate(frames):
        events.extend(stage.process(result(seq, objects, **kwargs)).records)  # type: ignore[arg-type]
    return events


def walk(xs: Sequence[float], y: float = 300, tracker_id: int = 1) -> list[list[Obj]]:
    return [[(tracker_id, (x, y))] for x in xs]


VERTICAL = {"name": "door", "start": [320, 0], "end": [320, 480]}  # drawn top to bottom


def test_crossing_a_line_three_times_gives_in_out_in_at_the_first_frame_on_each_side():
    xs = list(range(200, 440, 20)) + list(range(440, 200, -20)) + list(range(200, 440, 20))
    frames = walk(xs) + [[]] * 30
    events = run({"lines": [VERTICAL], "min_seen_s": 0.2, "lost_s": 1.0}, frames)
    crossings = [e for e in events if e.type == "line_cross"]
    first_right = [i for i in range(1, len(xs)) if (xs[i] > 320) != (xs[i - 1] > 320)]
    assert [(e.direction, e.seq, e.line) for e in crossings] == [
        ("in", first_right[0], "door"),
        ("out", first_right[1], "door"),
        ("in", first_right[2], "door"),
    ]
    assert [e.capture_time for e in crossings] == [at(s) for s in first_right]
    assert [e.type for e in events] == ["object_start", "line_cross", "line_cross", "line_cross", "object_end"]
    assert crossings[0].class_name == "person" and crossings[0].source == "cam" and crossings[0].tracker_id == 1


def test_a_wobble_across_the_line_shorter_than_min_seen_is_no_crossing():
    xs = [300, 300, 300, 330, 300, 300, 300, 330, 330, 330, 330]  # one frame over, then for good
    events = run({"lines": [VERTICAL], "min_seen_s": 0.2}, walk(xs))
    assert [(e.type, e.direction, e.seq) for e in events if e.type == "line_cross"] == [("line_cross", "in", 7)]


ZONE = {"name": "yard", "polygon": [[100, 100], [400, 100], [400, 400], [100, 400]]}


def test_entering_and_leaving_a_zone_gives_enter_and_exit_at_those_frames():
    xs = [50] * 5 + [200] * 20 + [500] * 10  # enters at frame 5, leaves at frame 25
    events = run({"zones": [ZONE], "min_seen_s": 0.3}, walk(xs))
    zone_events = [(e.type, e.zone, e.seq, e.capture_time) for e in events if e.zone]
    assert zone_events == [("zone_enter", "yard", 5, at(5)), ("zone_exit", "yard", 25, at(25))]


def test_an_object_lingering_past_dwell_s_gives_one_dwell_per_stay():
    xs = [50] * 3 + [200] * 60 + [50] * 5 + [200] * 10  # a 6 s stay, then a 1 s one
    events = run({"zones": [{**ZONE, "dwell_s": 2.0}], "min_seen_s": 0.2}, walk(xs))
    dwells = [e for e in events if e.type == "dwell"]
    assert len(dwells) == 1
    assert dwells[0].seq == 3 + 20 and dwells[0].extra["dwell_s"] == pytest.approx(2.0)
    assert dwells[0].extra["entered_at"] == utc(at(3))
    assert [e.type for e in events if e.zone] == ["zone_enter", "dwell", "zone_exit", "zone_enter"]


def test_flicker_shorter_than_min_seen_makes_no_event_at_all():
    frames = [[(5, (200, 300))], [(5, (330, 300))], [(5, (340, 300))]] + [[]] * 40
    events = run({"zones": [ZONE], "lines": [VERTICAL], "min_seen_s": 0.5, "lost_s": 1.0}, frames)
    assert events == []


def test_a_track_unseen_for_lost_s_ends_with_its_first_and_last_seen():
    frames = [[]] * 2 + walk([200] * 10, tracker_id=9) + [[]] * 30
    events = run({"zones": [ZONE], "min_seen_s": 0.2, "lost_s": 1.5}, frames)
    assert [e.type for e in events] == ["object_start", "zone_enter", "zone_exit", "object_end"]
    start, end = events[0], events[-1]
    assert (start.seq, start.capture_time, start.extra["first_seen"]) == (2, at(2), utc(at(2)))
    assert (end.seq, end.extra["first_seen"], end.extra["last_seen"]) == (11, utc(at(2)), utc(at(11)))
    assert end.extra["duration_s"] == pytest.approx(0.9) and end.confidence == pytest.approx(0.59)
    assert events[2].seq == 11  # a lost object leaves its zones when last seen


def test_the_track_is_named_by_the_class_most_often_seen():
    frames = [[(1, (200, 300), 1)], [(1, (200, 300), 0)], [(1, (200, 300), 1)]] + [[]] * 30
    events = run({"min_seen_s": 0.0, "lost_s": 1.0}, frames)
    assert [(e.type, e.class_name, e.class_id) for e in events] == [("object_start", "car", 1), ("object_end", "car", 1)]


def test_a_zone_with_classes_ignores_other_classes():
    frames = [[(1, (200, 300), 0), (2, (210, 300), 1)]] * 5
    events = run({"zones": [{**ZONE, "classes": ["car"]}], "min_seen_s": 0.0}, frames)
    assert [(e.type, e.tracker_id) for e in events if e.zone] == [("zone_enter", 2)]


def test_detections_without_tracker_ids_are_ignored():
    frames = [[(-1, (200, 300)), (3, (50, 300))]] * 5
    events = run({"zones": [ZONE], "min_seen_s": 0.0}, frames)
    assert [(e.type, e.tracker_id) for e in events] == [("object_start", 3)]  # -1 is no track
    assert run({"zones": [ZONE], "min_seen_s": 0.0}, [[(1, (200, 300))]] * 5, tracked=False) == []


def test_normalized_zones_scale_with_the_frame_and_pixel_zones_are_clipped_to_it():
    half = {"name": "left", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], "normalized": True}
    stage = ZoneStage(ZonesStageConfig.model_validate({"zones": [half], "min_seen_s": 0}), StageContext("cam"))
    big = np.zeros((960, 1280, 3), np.uint8)
    out = stage.process(result(0, [(1, (600, 500))], image=big))  # inside the left half of 1280
    assert [e.type for e in out.records] == ["object_start", "zone_enter"]  # type: ignore[attr-defined]

    wide = {"name": "wide", "polygon": [[-100, -100], [320, -100], [320, 900], [-100, 900]]}
    events = run({"zones": [wide], "min_seen_s": 0}, [[(1, (100, 479))]])
    assert [e.type for e in events] == ["object_start", "zone_enter"]


def test_line_crossings_agree_with_supervision_linezone_on_the_same_tracks():
    sv = pytest.importorskip("supervision")
    rng = np.random.default_rng(7)
    # no hysteresis and no re-linking: LineZone's counting exactly (the defaults differ on purpose: tests/unit/stages/test_line_counts.py)
    line = {"name": "diag", "start": [100, 50], "end": [500, 420], "hysteresis_px": 0, "relink_s": 0}
    stage = ZoneStage(ZonesStageConfig.model_validate({"lines": [line], "min_seen_s": 0, "lost_s": 100}), StageContext("cam"))
    reference = sv.LineZone(sv.Point(100, 50), sv.Point(500, 420), triggering_anchors=[sv.Position.BOTTOM_CENTER])
    positions = rng.uniform([150, 100], [450, 400], size=(6, 2))
    ours, theirs = [], []
    for seq in range(300):
        positions += rng.normal(0, 25, size=positions.shape)
        positions = np.clip(positions, 20, [620, 470])
        objects = [(i + 1, tuple(p)) for i, p in enumerate(positions)] + [(-1, (300.0, 200.0))]
        res = result(seq, objects)
        ours += [
            (e.seq, e.tracker_id, e.direction)
            for e in stage.process(res).records  # type: ignore[attr-defined]
            if isinstance(e, Event) and e.type == "line_cross"
        ]
        crossed_in, crossed_out = reference.trigger(res.detections.to_supervision())
        ids = res.detections.tracker_id
        assert ids is not None
        theirs += [(seq, int(ids[i]), "in") for i in np.flatnonzero(crossed_in)]
        theirs += [(seq, int(ids[i]), "out") for i in np.flatnonzero(crossed_out)]
    assert len(theirs) > 20  # the walk crosses often enough to mean something
    assert sorted(ours) == sorted(theirs)
    assert sum(d == "in" for *_, d in ours) == reference.in_count
    assert sum(d == "out" for *_, d in ours) == reference.out_count


def test_left_to_right_across_a_line_drawn_top_to_bottom_is_in_as_supervision_counts_it():
    sv = pytest.importorskip("supervision")
    reference = sv.LineZone(sv.Point(320, 0), sv.Point(320, 480), triggering_anchors=[sv.Position.BOTTOM_CENTER])
    frames = walk([200, 250, 400, 450])
    for seq, objects in enumerate(frames):
        reference.trigger(result(seq, objects).detections.to_supervision())
    events = run({"lines": [VERTICAL], "min_seen_s": 0}, frames)
    assert [e.direction for e in events if e.type == "line_cross"] == ["in"] and reference.in_count == 1


def test_without_supervision_the_stage_names_the_extra_to_install(monkeypatch):
    from vigil.errors import MissingDependencyError

    monkeypatch.setitem(__import__("sys").modules, "supervision", None)
    with pytest.raises(MissingDependencyError, match=r"vigil-analytics\[supervision\]"):
        ZoneStage(ZonesStageConfig(), StageContext("cam"))
