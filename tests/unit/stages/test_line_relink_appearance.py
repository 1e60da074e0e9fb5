"""Re-linking a line's lost tracks by appearance (issue 31, `lines[].relink_appearance`): tracks
carry an embedding as a cascade of an embedding model attaches one; scripted tracks through the
real zones stage, exact events. A = B's opposite in look: cosine 0."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from tests.unit.stages.line_script import LINE, crossings, run, walk, zone_stage
from vigil.config.zones import LineConfig
from vigil.stages._relink import APPEARANCE_REACH, New, Trail, pairs

STEP = 10  # px a frame (100 px/s at 10 fps)
A, B = [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]
ALIKE = {**LINE, "relink_appearance": 0.9}


def relinked_by(events) -> list[str]:
    return [e.extra.get("relinked_by") for e in events if e.type == "line_cross"]


def test_an_object_back_off_its_path_is_relinked_by_its_look_and_not_without_it():
    before = walk(range(200, 320, STEP))  # to 310 at 10 px a frame: heading for 450 in 1.4 s
    hidden = [[]] * 13  # it stopped behind something for 1.4 s
    after = walk(range(330, 440, STEP), tracker_id=2)  # back at 330: 120 px from the prediction, over one box (80)
    frames = before + hidden + after
    events, _ = run(zone_stage(lines=[ALIKE]), frames, looks={1: A, 2: A})
    assert crossings(events) == [(2, "in", True, 1)] and relinked_by(events) == ["appearance"]
    assert crossings(run(zone_stage(lines=[LINE]), frames, looks={1: A, 2: A})[0]) == []  # by motion alone: too far
    assert crossings(run(zone_stage(lines=[ALIKE]), frames, looks={1: A, 2: B})[0]) == []  # another object


def test_the_look_picks_which_of_two_new_tracks_continues_the_lost_one():
    before = walk(range(200, 320, STEP), tracker_id=1)
    gap = [[]] * 3  # lost 0.4 s: predicted at 350
    # a stranger (3) right where track 1 was heading, and the object itself (2) 150 px below it
    after = [[(3, (350 + STEP * i, 300)), (2, (350 + STEP * i, 450))] for i in range(10)]
    frames = before + gap + after
    events, _ = run(zone_stage(lines=[ALIKE]), frames, looks={1: A, 2: A, 3: B})
    assert crossings(events) == [(2, "in", True, 1)] and relinked_by(events) == ["appearance"]
    motion, _ = run(zone_stage(lines=[LINE]), frames, looks={1: A, 2: A, 3: B})
    assert crossings(motion) == [(3, "in", True, 1)] and relinked_by(motion) == ["motion"]


def test_tracks_without_a_look_are_relinked_by_motion_alone():
    frames = walk(range(200, 320, STEP)) + [[]] * 3 + walk(range(350, 460, STEP), tracker_id=2)
    for looks in (None, {1: A}, {2: A}):  # neither has one, or only one of them
        events, _ = run(zone_stage(lines=[ALIKE]), frames, looks=looks)
        assert crossings(events) == [(2, "in", True, 1)] and relinked_by(events) == ["motion"], looks


def test_pairs_go_most_alike_first_within_the_appearance_reach():
    trail = Trail(class_id=0, appearance=np.array(A, np.float32))
    trail.add(10.0, 300.0, 400.0, 80.0)  # standing: predicted where it was
    near_but_less_alike = New(1, (310.0, 400.0), 0, np.array([0.95, 0.312, 0, 0], np.float32))
    far_and_alike = New(2, (300.0 + 80 * APPEARANCE_REACH - 1, 400.0), 0, np.array(A, np.float32))
    assert pairs([near_but_less_alike, far_and_alike], {7: trail}, 10.5, 1.5, None, 0.9) == [(2, 7, "appearance")]
    beyond = New(3, (300.0 + 80 * APPEARANCE_REACH + 1, 400.0), 0, np.array(A, np.float32))
    assert pairs([beyond], {7: trail}, 10.5, 1.5, None, 0.9) == []
    assert pairs([near_but_less_alike], {7: trail}, 10.5, 1.5, None, None) == [(1, 7, "motion")]


@pytest.mark.parametrize("value", [1.5, -2, "high"])
def test_a_similarity_out_of_range_is_refused(value):
    with pytest.raises(ValidationError, match="relink_appearance"):
        LineConfig.model_validate({**LINE, "relink_appearance": value})
