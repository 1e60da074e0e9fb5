"""The zones rule alone: zone_enter / zone_exit once inside (outside) for `min_seen_s`, at the
first frame of it; a zone_exit from each zone an ended object was in; the zones drawn with the
started objects inside."""

from __future__ import annotations

from tests.unit.stages.rules.scene import LINE, ZONE, Scene, at, walk
from vigil.stages.rules.zones import ZoneRule


def test_entering_and_leaving_gives_enter_and_exit_at_the_first_frame_inside_and_outside():
    scene = Scene(zones=[ZONE], min_seen_s=0.3)
    rule = ZoneRule(scene.context)
    events = scene.run(rule, walk([50] * 3 + [200] * 10 + [500] * 5))
    assert [(e.type, e.zone, e.seq, e.capture_time) for e in events] == [
        ("zone_enter", "yard", 3, at(3)),
        ("zone_exit", "yard", 13, at(13)),
    ]


def test_a_visit_shorter_than_min_seen_s_makes_no_event():
    scene = Scene(zones=[ZONE], min_seen_s=0.3)
    assert scene.run(ZoneRule(scene.context), walk([50, 200, 200, 50, 50, 50, 50])) == []


def test_an_object_that_ends_inside_exits_at_its_last_sighting_and_is_forgotten():
    scene = Scene(zones=[ZONE, {**ZONE, "name": "other", "polygon": [[450, 0], [640, 0], [640, 480], [450, 480]]}], min_seen_s=0)
    rule = ZoneRule(scene.context)
    scene.run(rule, walk([200, 210, 220]))
    ends = rule.end(scene.objects[1])
    assert [(e.type, e.zone, e.seq) for e in ends] == [("zone_exit", "yard", 2)]
    assert rule.states == {} and rule.end(scene.objects[1]) == []


def test_a_zone_limited_to_a_class_ignores_objects_of_other_classes():
    scene = Scene(zones=[{**ZONE, "classes": ["car"]}], min_seen_s=0)
    events = scene.run(ZoneRule(scene.context), [{1: (200, 300, 0), 2: (220, 300, 1)}] * 3)
    assert [(e.type, e.tracker_id, e.class_name) for e in events] == [("zone_enter", 2, "car")]


def test_the_zone_is_drawn_with_the_started_objects_inside_it():
    scene = Scene(zones=[ZONE], min_seen_s=0)
    rule = ZoneRule(scene.context)
    rule.observe(scene.view(0, {1: (200, 300), 2: (250, 300), 3: (600, 300)}))
    scene.objects[2].started = True
    shapes = scene.geometry.at(640, 480)
    (overlay,) = rule.overlays(shapes, [])
    assert (overlay.name, overlay.kind, overlay.text) == ("yard", "zone", "1 inside")
    assert overlay.points == ((100, 100), (400, 100), (400, 400), (100, 400))


def test_the_rule_is_made_only_for_a_stage_with_zones():
    assert ZoneRule.make(Scene(lines=[LINE]).context) is None
    assert isinstance(ZoneRule.make(Scene(zones=[ZONE]).context), ZoneRule)
