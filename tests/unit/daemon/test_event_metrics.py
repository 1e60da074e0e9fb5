"""The metrics' event hook: `vigil_events_total` by source, type, area and direction, and the
zone occupancy gauge kept by zone_enter / zone_exit (object_end only guards it); a removed source's
gauges go. The runner's `_publish_events` tells the observer before the sinks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.support.results import make_result
from vigil.daemon.metrics import PrometheusMetrics
from vigil.events import Event
from vigil.pipeline.observer import Observers, PipelineObserver

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=timezone.utc)


def event(
    type_: Any, tracker_id: int = 1, *, source: str = "door", class_name: str | None = "person", seq: int = 0, **where: Any
) -> Event:
    return Event(
        type=type_,
        source=source,
        tracker_id=tracker_id,
        class_name=class_name,
        class_id=0,
        capture_time=T0 + timedelta(seconds=seq),
        seq=seq,
        **where,
    )


def occupancy(metrics: PrometheusMetrics, zone: str = "lobby", class_name: str = "person", source: str = "door") -> float | None:
    return metrics.registry.get_sample_value("vigil_zone_objects", {"source": source, "zone": zone, "class_name": class_name})


def counted(metrics: PrometheusMetrics, type_: str, area: str = "", direction: str = "", source: str = "door") -> float | None:
    labels = {"source": source, "type": type_, "area": area, "direction": direction}
    return metrics.registry.get_sample_value("vigil_events_total", labels)


def test_events_are_counted_by_source_type_area_and_direction():
    metrics = PrometheusMetrics()
    metrics.events(
        [
            event("object_start"),
            event("line_cross", line="gate", direction="in"),
            event("line_cross", 2, line="gate", direction="in"),
            event("line_cross", 3, line="gate", direction="out"),
            event("zone_enter", zone="lobby"),
            event("object_start", source="yard"),
        ]
    )
    assert counted(metrics, "object_start") == 1
    assert counted(metrics, "line_cross", "gate", "in") == 2
    assert counted(metrics, "line_cross", "gate", "out") == 1
    assert counted(metrics, "zone_enter", "lobby") == 1
    assert counted(metrics, "object_start", source="yard") == 1
    assert b'vigil_events_total{area="gate",direction="in",source="door",type="line_cross"} 2.0' in metrics.exposition()


@pytest.mark.parametrize(
    "script, expected",
    [
        ([("zone_enter", 1), ("zone_enter", 2)], 2),
        ([("zone_enter", 1), ("zone_enter", 2), ("zone_exit", 1)], 1),
        ([("zone_enter", 1), ("zone_exit", 1), ("object_end", 1)], 0),
        ([("zone_enter", 1), ("zone_enter", 1)], 1),  # entered twice without leaving: one object
        ([("zone_exit", 7), ("zone_enter", 1)], 1),  # an exit never counted in cannot go below 0
        ([("zone_enter", 1), ("object_end", 1)], 0),  # an end whose exit went missing still takes it out
    ],
)
def test_occupancy_follows_enters_and_exits(script, expected):
    metrics = PrometheusMetrics()
    for type_, tracker_id in script:
        metrics.events([event(type_, tracker_id, zone="lobby" if type_.startswith("zone") else None)])
    assert occupancy(metrics) == expected


def test_an_exit_takes_the_object_out_of_the_class_it_entered_as():
    metrics = PrometheusMetrics()
    metrics.events([event("zone_enter", 1, class_name="car", zone="lobby"), event("zone_enter", 2, zone="lobby")])
    metrics.events([event("zone_exit", 1, class_name="truck", zone="lobby")])  # the tracker changed its mind
    assert occupancy(metrics, class_name="car") == 0
    assert occupancy(metrics, class_name="person") == 1
    assert occupancy(metrics, class_name="truck") is None


def test_zones_of_sources_and_zones_are_counted_apart_and_a_removed_source_loses_its_gauges():
    metrics = PrometheusMetrics()
    metrics.events(
        [
            event("zone_enter", 1, zone="lobby"),
            event("zone_enter", 1, zone="desk"),
            event("zone_enter", 1, source="yard", zone="lobby"),
        ]
    )
    assert (occupancy(metrics), occupancy(metrics, "desk"), occupancy(metrics, source="yard")) == (1, 1, 1)
    metrics.forget_source("door")
    assert occupancy(metrics) is None and occupancy(metrics, "desk") is None
    assert occupancy(metrics, source="yard") == 1
    assert counted(metrics, "zone_enter", "lobby") is None  # its counters go too (issue 26: /metrics never grows)
    # Results and events of frames it had read before the removal come out later: they bring nothing back.
    metrics.events([event("zone_enter", 1, zone="lobby")])
    metrics.result(make_result("door", 1))
    metrics.frame_in("door")
    metrics.frames_dropped("door", "stale", 3)
    assert 'source="door"' not in metrics.exposition().decode()
    metrics.track("door")  # the source added back starts from 0
    metrics.events([event("zone_enter", 1, zone="lobby")])
    assert occupancy(metrics) == 1


def test_observers_hands_every_hook_to_each_observer_in_order():
    heard: list[tuple[str, str]] = []

    class Recorder(PipelineObserver):
        def __init__(self, name: str) -> None:
            self.name = name

        def events(self, events: Any) -> None:
            heard.append((self.name, events[0].type))

        def frame_in(self, source_id: str) -> None:
            heard.append((self.name, source_id))

    both = Observers(Recorder("a"), Recorder("b"))
    both.frame_in("door")
    both.events([event("object_start")])
    both.loop_lag(0.01)  # not overridden: the base ignores it
    assert heard == [("a", "door"), ("b", "door"), ("a", "object_start"), ("b", "object_start")]
