"""The dwell rule alone: one `dwell` per stay in a zone longer than its dwell time, at the frame
that reached it, with the seconds stayed and when the stay began."""

from __future__ import annotations

import pytest

from tests.unit.stages.rules.scene import ZONE, Scene, utc, walk
from vigil.stages.rules.dwell import DwellRule


def test_a_stay_longer_than_dwell_s_gives_one_dwell_at_the_frame_that_reached_it():
    scene = Scene(zones=[{**ZONE, "dwell_s": 1.0}], min_seen_s=0.2)
    events = scene.run(DwellRule(scene.context), walk([50] * 2 + [200] * 30))
    assert [(e.type, e.zone, e.seq) for e in events] == [("dwell", "yard", 12)]
    assert events[0].extra == {"dwell_s": 1.0, "entered_at": utc(2)}


def test_each_stay_dwells_once_and_a_short_one_not_at_all():
    scene = Scene(zones=[ZONE], dwell_s=0.5, min_seen_s=0)
    xs = [200] * 10 + [50] * 3 + [200] * 3 + [50] * 3 + [200] * 8  # stays of 1.0, 0.3 and 0.8 s
    events = scene.run(DwellRule(scene.context), walk(xs))
    assert [e.seq for e in events] == [5, 24]
    assert [e.extra["entered_at"] for e in events] == [utc(0), utc(19)]


def test_a_step_outside_shorter_than_min_seen_s_keeps_the_stay_but_dwells_only_inside():
    scene = Scene(zones=[{**ZONE, "dwell_s": 0.5}], min_seen_s=0.3)
    xs = [200] * 4 + [50] * 2 + [200] * 3  # out at 0.4 and 0.5 s (no exit confirmed), back at 0.6 s
    events = scene.run(DwellRule(scene.context), walk(xs))
    assert [(e.seq, e.extra) for e in events] == [(6, {"dwell_s": 0.6, "entered_at": utc(0)})]


@pytest.mark.parametrize(
    "config, made",
    [
        ({"zones": [ZONE]}, False),
        ({"zones": [ZONE], "dwell_s": 3}, True),
        ({"zones": [ZONE, {**ZONE, "name": "b", "dwell_s": 2}]}, True),
        ({"dwell_s": 3}, False),
    ],
)
def test_the_rule_is_made_only_when_a_zone_has_a_dwell_time(config, made):
    assert (DwellRule.make(Scene(**config).context) is not None) is made


def test_only_the_zones_with_a_dwell_time_dwell():
    scene = Scene(zones=[ZONE, {**ZONE, "name": "slow", "dwell_s": 0.3}], min_seen_s=0)
    events = scene.run(DwellRule(scene.context), walk([200] * 10))
    assert [(e.zone, e.seq) for e in events] == [("slow", 3)]
