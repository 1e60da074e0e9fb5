"""A rule and an event type from outside vigil: registered, made by every zones stage built
after, its events held until the object starts, sorted by the type's order, recorded, and read
by the consumers that enumerate types (the metrics' and MQTT's zone occupancy)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.stages.test_zones_stage import ZONE, result, walk
from vigil.catalog import CATALOG, EventField, EventTypeKind
from vigil.config.zones import ZonesStageConfig
from vigil.daemon.metrics import PrometheusMetrics
from vigil.events import Event
from vigil.sinks._mqtt_discovery import Occupancy
from vigil.stages.base import StageContext
from vigil.stages.rules import EventRule, FrameView, RuleContext, TrackedObject, register_rule, rule_names, unregister_rule
from vigil.stages.zones import ZoneStage

RIGHT_HALF = "right_half"


class RightHalf(EventRule):
    """`right_half` the first time an object's box is in the right half of the frame; an object
    there counts as inside the zone `right` (occupancy `enter`)."""

    def __init__(self, context: RuleContext) -> None:
        self.context, self.told = context, set[int]()

    def observe(self, view: FrameView) -> list[Event]:
        width = view.now.frame.image.shape[1]
        new = [(k, o) for k, o in enumerate(view.objects) if o.tracker_id not in self.told and view.boxes[k, 0] > width / 2]
        self.told.update(o.tracker_id for _, o in new)
        return [self.context.event(RIGHT_HALF, o, o.last, zone="right", x=round(float(view.boxes[k, 0]), 1)) for k, o in new]

    def end(self, obj: TrackedObject) -> list[Event]:
        self.told.discard(obj.tracker_id)
        return []


@pytest.fixture
def right_half() -> Iterator[None]:
    CATALOG.event_types.register(
        EventTypeKind(
            RIGHT_HALF,
            "an object reached the right half of the frame",
            "that frame",
            (EventField("zone", "string", "The zone's name."), EventField("x", "number", "The box's left edge.")),
            rule=RIGHT_HALF,
            order=25,
            occupancy="enter",
            area="zone",
        )
    )
    register_rule(RIGHT_HALF, RightHalf)
    yield
    unregister_rule(RIGHT_HALF)
    CATALOG.event_types.unregister(RIGHT_HALF)


def run(frames: list, **config: object) -> list[Event]:
    stage = ZoneStage(ZonesStageConfig.model_validate(config), StageContext("cam"))
    events = [e for seq, objects in enumerate(frames) for e in stage.process(result(seq, objects)).records]
    return [*events, *stage.close()]  # type: ignore[list-item]


def test_a_registered_rule_runs_in_the_stage_after_the_builtin_ones(right_half):
    assert rule_names()[-1] == RIGHT_HALF
    events = run(walk([200, 300, 400, 500, 500]), min_seen_s=0.2)
    assert [(e.type, e.seq) for e in events] == [("object_start", 0), (RIGHT_HALF, 2), ("object_end", 4)]
    record = events[1].to_record()
    assert (record["type"], record["zone"], record["x"]) == (RIGHT_HALF, "right", 390.0)


def test_its_events_wait_for_the_object_to_start_and_sort_by_the_types_order(right_half):
    frames = [[(1, (400, 300))]] * 6  # in the right half and in the zone from the first frame
    events = run(frames, zones=[{**ZONE, "polygon": [[300, 0], [640, 0], [640, 480], [300, 480]]}], min_seen_s=0.3)
    assert [(e.type, e.seq) for e in events[:3]] == [("object_start", 0), (RIGHT_HALF, 0), ("zone_enter", 0)]
    assert all(e.seq == 0 for e in events[:3]) and events[-2].type == "zone_exit"


def test_a_flickering_object_makes_none_of_its_events(right_half):
    assert run([[(1, (500, 300))]] + [[]] * 30, min_seen_s=0.5, lost_s=1.0) == []


def test_the_consumers_count_it_by_its_declared_occupancy(right_half):
    (event,) = [e for e in run(walk([500, 500, 500]), min_seen_s=0) if e.type == RIGHT_HALF]
    metrics = PrometheusMetrics()
    metrics.events([event])
    labels = {"source": "cam", "zone": "right", "class_name": "person"}
    assert metrics.registry.get_sample_value("vigil_zone_objects", labels) == 1
    assert (
        metrics.registry.get_sample_value(
            "vigil_events_total", {"source": "cam", "type": RIGHT_HALF, "area": "right", "direction": ""}
        )
        == 1
    )
    assert Occupancy().apply(event) == [("cam", "right", "person")]


def test_an_unregistered_rule_is_not_made_by_later_stages(right_half):
    unregister_rule(RIGHT_HALF)
    assert [e.type for e in run(walk([500, 500, 500]), min_seen_s=0)] == ["object_start", "object_end"]
