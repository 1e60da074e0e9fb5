"""The lifecycle rule alone: an object starts once seen for `min_seen_s` (its clip opens), and
ends with its first, last and best sightings (its clip closes)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pytest

from tests.unit.stages.rules.scene import Scene, at, utc
from vigil.stages.rules.lifecycle import LifecycleRule


class Clips:
    """A ClipRecorder's face, recording what it was asked."""

    def __init__(self, flushed: bool = True) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.flushed = flushed

    def open(self, tracker_id: int, *, start_pts: float, start_time: datetime) -> str:
        self.calls.append(("open", tracker_id, start_pts, start_time))
        return f"/clips/{tracker_id}.mp4"

    def close(self, tracker_id: int, *, end_pts: float, end_time: datetime | None = None) -> None:
        self.calls.append(("close", tracker_id, end_pts))

    def flush(self, timeout_s: float) -> bool:
        self.calls.append(("flush", timeout_s))
        return self.flushed


def test_an_object_starts_once_seen_for_min_seen_s_at_its_first_sighting():
    scene = Scene(min_seen_s=0.3)
    rule = LifecycleRule(scene.context)
    made = [(seq, rule.observe(scene.view(seq, {4: (200, 300)}))) for seq in range(2, 8)]
    assert [(seq, [e.type for e in events]) for seq, events in made if events] == [(5, ["object_start"])]
    start = made[3][1][0]
    assert (start.seq, start.capture_time, start.extra) == (2, at(2), {"first_seen": utc(2)})
    assert (start.tracker_id, start.class_name, start.box) == (4, "person", (190.0, 280.0, 210.0, 300.0))
    assert scene.objects[4].started


def test_an_ended_object_carries_its_first_last_and_best_sightings():
    scene = Scene(min_seen_s=0)
    rule = LifecycleRule(scene.context)
    for seq, confidence in enumerate([0.4, 0.9, 0.6]):
        rule.observe(scene.view(seq, {1: (100 + 10 * seq, 300, 1)}, confidence))
    (end,) = rule.end(scene.objects[1])
    assert (end.type, end.seq, end.capture_time, end.class_name) == ("object_end", 2, at(2), "car")
    assert end.extra == {
        "first_seen": utc(0),
        "last_seen": utc(2),
        "duration_s": 0.2,
        "best": {"seq": 1, "capture_time": utc(1), "confidence": 0.9},
    }
    assert end.frame is not None and end.frame.seq == 1 and end.box == (100.0, 280.0, 120.0, 300.0)  # the best frame


def test_an_object_that_never_started_ends_without_an_event():
    scene = Scene(min_seen_s=1.0)
    rule = LifecycleRule(scene.context)
    assert rule.observe(scene.view(0, {1: (100, 300)})) == []
    assert rule.end(scene.objects[1]) == []


@pytest.mark.parametrize("flushed", [True, False])
def test_the_clip_opens_at_the_first_sighting_closes_at_the_last_and_is_flushed_at_the_end(flushed, caplog):
    clips = Clips(flushed)
    scene = Scene(clips, min_seen_s=0.2)
    rule = LifecycleRule(scene.context)
    events = [e for seq in range(5) for e in rule.observe(scene.view(seq, {3: (100, 300)}))]
    assert events[0].clip == "/clips/3.mp4"
    (end,) = rule.end(scene.objects[3])
    assert end.clip == "/clips/3.mp4"
    with caplog.at_level(logging.WARNING):
        rule.close()
    assert clips.calls == [("open", 3, 0.0, at(0)), ("close", 3, 0.4), ("flush", 10.0)]
    assert ("clips still being written" in caplog.text) is not flushed
