"""The lines rule alone: line_cross `in` / `out` (supervision's `LineZone` sides) once on the
new side for `min_seen_s`, at the first frame there; the lines drawn with the crossings sent."""

from __future__ import annotations

from tests.unit.stages.rules.scene import LINE, ZONE, Scene, at, walk
from vigil.stages.rules.lines import LineRule


def test_crossing_left_to_right_and_back_gives_in_then_out_at_the_first_frame_on_each_side():
    scene = Scene(lines=[LINE], min_seen_s=0.2)
    events = scene.run(LineRule(scene.context), walk([250, 300, 350, 360, 370, 300, 280, 270, 260]))
    assert [(e.type, e.line, e.direction, e.seq, e.capture_time) for e in events] == [
        ("line_cross", "door", "in", 2, at(2)),
        ("line_cross", "door", "out", 5, at(5)),
    ]


def test_a_wobble_over_the_line_shorter_than_min_seen_s_is_no_crossing():
    scene = Scene(lines=[LINE], min_seen_s=0.2)
    assert scene.run(LineRule(scene.context), walk([300, 330, 300, 300, 300])) == []


def test_positions_beyond_the_line_ends_do_not_count():
    short = {"name": "gate", "start": [320, 0], "end": [320, 200]}
    scene = Scene(lines=[short], min_seen_s=0)
    assert scene.run(LineRule(scene.context), walk([250, 350, 450], y=400)) == []  # passes below its end
    assert [e.direction for e in scene.run(LineRule(scene.context), walk([250, 350], y=100), start=10)] == ["in"]


def test_each_object_keeps_its_own_side_and_an_ended_one_is_forgotten():
    scene = Scene(lines=[LINE], min_seen_s=0)
    rule = LineRule(scene.context)
    events = scene.run(rule, [{1: (300, 300), 2: (340, 300)}, {1: (340, 300), 2: (300, 300)}])
    assert [(e.tracker_id, e.direction) for e in events] == [(1, "in"), (2, "out")]
    assert rule.end(scene.objects[1]) == [] and set(rule.states) == {2}


def test_the_line_is_drawn_with_the_crossings_sent_so_far():
    scene = Scene(lines=[LINE], min_seen_s=0)
    rule = LineRule(scene.context)
    shapes = scene.geometry.at(640, 480)
    crossed = scene.run(rule, walk([300, 340, 300]))
    (overlay,) = rule.overlays(shapes, crossed[:1])
    assert (overlay.name, overlay.kind, overlay.points, overlay.text) == ("door", "line", ((320, 0), (320, 480)), "in 1 out 0")
    assert rule.overlays(shapes, crossed[1:])[0].text == "in 1 out 1"


def test_the_rule_is_made_only_for_a_stage_with_lines():
    assert LineRule.make(Scene(zones=[ZONE]).context) is None
    assert isinstance(LineRule.make(Scene(lines=[LINE]).context), LineRule)
