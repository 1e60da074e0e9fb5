"""Line counts that survive (issue 31): one count per real crossing when the track is lost and
found again under a new id at the line (re-linked), when the object stops or jitters on the line
(hysteresis), when the detector misses it for a few frames; a real crossing back and forth is
two. Scripted tracks through the real zones stage: exact events."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.unit.stages.line_script import LINE, crossings, run, walk, zone_stage
from vigil.config.zones import LineConfig

STEP = 10  # px a frame (100 px/s at 10 fps)


def test_an_id_switch_at_the_line_is_counted_once_and_marked_relinked():
    before = walk(range(200, 320, STEP))  # 200 .. 310, out side
    gap = [[]] * 3  # lost for 0.3 s (an occlusion); the tracker then gives a new id
    after = walk(range(350, 460, STEP), tracker_id=2)  # where track 1 was heading: 310 + 4 * 10
    events, _ = run(zone_stage(lines=[LINE]), before + gap + after)
    assert crossings(events) == [(2, "in", True, 1)]
    (cross,) = [e for e in events if e.type == "line_cross"]
    assert cross.seq == len(before) + len(gap)  # the new track's first frame: its first on the in side
    assert cross.to_record()["relinked"] is True and cross.to_record()["relinked_from"] == 1
    # without re-linking the new track starts on the in side, as supervision's LineZone has it: no count
    unlinked, _ = run(zone_stage(lines=[{**LINE, "relink_s": 0}]), before + gap + after)
    assert crossings(unlinked) == []


def test_a_crossing_begun_by_the_lost_track_is_finished_by_the_new_one():
    before = walk(range(200, 350, STEP))  # 200 .. 340: on the in side for 0.2 s, less than min_seen_s
    after = walk(range(380, 480, STEP), tracker_id=2)
    events, _ = run(zone_stage(lines=[LINE]), before + [[]] * 3 + after)
    assert crossings(events) == [(2, "in", True, 1)]
    (cross,) = [e for e in events if e.type == "line_cross"]
    assert cross.seq == 13  # the lost track's first frame in (x = 330): when the object crossed


def test_an_object_lost_after_its_track_ended_is_still_relinked_within_relink_s():
    before = walk(range(200, 320, STEP))
    after = walk(range(380, 480, STEP), tracker_id=2)  # back after 0.6 s, its old track ended at 0.3 s
    events, _ = run(zone_stage(lines=[LINE], lost_s=0.3, min_seen_s=0.2), before + [[]] * 6 + after)
    assert crossings(events) == [(2, "in", True, 1)]


def test_a_new_track_far_from_where_the_lost_one_was_heading_is_not_relinked():
    before = walk(range(200, 320, STEP))
    elsewhere = walk(range(400, 500, STEP), y=120, tracker_id=2)  # 180 px above the prediction
    events, _ = run(zone_stage(lines=[LINE]), before + [[]] * 3 + elsewhere)
    assert crossings(events) == []


def test_a_new_track_is_not_relinked_to_one_still_seen_or_lost_too_long_ago():
    seen = [[(1, (310, 300)), (2, (330 + STEP * i, 300))] for i in range(10)]  # both seen: a second object
    events, _ = run(zone_stage(lines=[LINE]), walk(range(200, 320, STEP)) + seen)
    assert crossings(events) == []
    long_gap = walk(range(200, 320, STEP)) + [[]] * 20 + walk(range(510, 600, STEP), tracker_id=2)  # 2 s > relink_s
    assert crossings(run(zone_stage(lines=[LINE], lost_s=5), long_gap)[0]) == []


def test_an_object_pausing_and_jittering_on_the_line_is_counted_once():
    approach = walk(range(200, 320, STEP))  # to 310
    jitter = walk([316] * 7 + [324] * 7 + [317] * 7 + [323] * 7 + [316] * 7 + [324] * 7)  # 4 px either side, 0.7 s each
    leave = walk(range(330, 460, STEP))
    events, _ = run(zone_stage(lines=[LINE]), approach + jitter + leave)
    assert crossings(events) == [(1, "in", False, None)]
    (cross,) = [e for e in events if e.type == "line_cross"]
    assert cross.seq == len(approach) + 35  # the first frame on the in side it did not come back from (x = 324)
    # Without hysteresis each half-second on the other side counts, as it would with LineZone.
    plain, _ = run(zone_stage(lines=[{**LINE, "hysteresis_px": 0}]), approach + jitter + leave)
    assert [d for _, d, *_ in crossings(plain)] == ["in", "out", "in", "out", "in"]  # 3 in, 2 out: net 1


def test_a_hysteresis_in_pixels_holds_whatever_the_box_size():
    approach = walk(range(200, 320, STEP))
    stand = walk([335] * 20)  # 15 px past the line for 2 s, then back: it never crossed for good
    back = walk(range(300, 180, -STEP))
    frames = approach + stand + back
    assert crossings(run(zone_stage(lines=[{**LINE, "hysteresis_px": 20}]), frames)[0]) == []
    assert [d for _, d, *_ in crossings(run(zone_stage(lines=[{**LINE, "hysteresis_px": 10}]), frames)[0])] == ["in", "out"]


def test_a_few_missed_detections_at_the_line_are_one_crossing():
    xs = list(range(200, 460, STEP))
    frames = [[] if 290 <= x <= 350 else [(1, (x, 300))] for x in xs]  # 7 frames missed across the line
    events, _ = run(zone_stage(lines=[LINE]), frames)
    assert crossings(events) == [(1, "in", False, None)]


def test_a_real_crossing_back_and_forth_is_counted_twice():
    frames = walk(list(range(200, 460, STEP)) + list(range(450, 190, -STEP)))
    events, _ = run(zone_stage(lines=[LINE]), frames)
    assert crossings(events) == [(1, "in", False, None), (1, "out", False, None)]


def test_line_settings_are_checked():
    assert LineConfig.model_validate(LINE).relink_s == 1.5
    for bad, message in (
        ({"relink_s": -1}, "relink_s"),
        ({"hysteresis_px": -2}, "hysteresis_px"),
        ({"relink_px": 0}, "relink_px"),
    ):
        with pytest.raises(ValidationError, match=message):
            LineConfig.model_validate({**LINE, **bad})
