"""An event type from another distribution: declared as an `EventTypeKind` in its `vigil.kinds`
entry point, built and installed by pip, then found by a fresh vigil with nothing else told. Its
events are made, counted by the metrics with the labels its fields fill, offered by MQTT
discovery, listed by the OpenAPI document and accepted by the event store's query, with no edit
of any of them; a plugin whose event type clashes is undone whole."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.catalog.test_plugin_kinds import _distribution, run

LANES = """
from vigil.catalog import EventField, EventTypeKind

KINDS = [
    EventTypeKind(
        "lane_change",
        "a vehicle moved into another lane",
        "the first frame in the new lane",
        (EventField("lane", "string", "The lane it moved into."), EventField("side", "string", "left or right.")),
        rule="lanes",
        occupancy="enter",
        area="lane",
        direction="side",
    )
]
"""

CLASH = """
from vigil.catalog import EventField, EventTypeKind


def declare(catalog):
    catalog.event_types.register(EventTypeKind("first_of_two", "x", "y", rule="clash"))
    catalog.event_types.register(EventTypeKind("zone_late", "x", "y", (EventField("zone", "number", "How far."),)))
"""

PROBE = """
import json
from datetime import datetime, timezone

from vigil.api.openapi import openapi_document
from vigil.catalog import CATALOG
from vigil.daemon.metrics import PrometheusMetrics
from vigil.events import Event
from vigil.sinks._mqtt_discovery import Discovery, Occupancy
from vigil.store.base import EventQuery

event = Event(type="lane_change", source="road", tracker_id=4, class_name="car", class_id=2,
              capture_time=datetime(2026, 12, 1, tzinfo=timezone.utc), seq=7, extra={"lane": "fast", "side": "left"})
metrics = PrometheusMetrics()
metrics.events([event])
sample = metrics.registry.get_sample_value
discovery = Discovery("vigil", "homeassistant", "box").camera("road")
last_event = next(json.loads(p) for t, p in discovery.items() if t.endswith("/road_last_event/config"))
events_path = openapi_document()["paths"]["/api/v1/events"]["get"]["parameters"]
print(json.dumps({
    "types": list(CATALOG.event_types.names()),
    "origin": CATALOG.event_types.get("lane_change").origin,
    "failures": [f.distribution for f in CATALOG.failures],
    "record": event.to_record()["type"],
    "counted": sample("vigil_events_total", {"source": "road", "type": "lane_change", "area": "fast", "direction": "left"}),
    "inside": sample("vigil_zone_objects", {"source": "road", "zone": "fast", "class_name": "car"}),
    "occupancy": Occupancy().apply(event),
    "options": last_event["options"],
    "openapi": next(p["schema"]["enum"] for p in events_path if p["name"] == "type"),
    "query": EventQuery.from_params({"type": "lane_change"}).type,
}))
"""


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("event_plugins")
    target = base / "site"
    lanes = _distribution(base / "lanes", "vigil-lanes", "vigil_lanes", LANES, 'lanes = "vigil_lanes:KINDS"')
    clash = _distribution(base / "clash", "vigil-clash", "vigil_clash", CLASH, 'clash = "vigil_clash:declare"')
    for project in (lanes, clash):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
            + ["--target", str(target), str(project)],
            check=True,
            timeout=300,
            capture_output=True,
        )
    return target


def test_a_plugins_event_type_is_made_counted_offered_and_listed_with_no_edit(plugins):
    proc = run(plugins, "-c", textwrap.dedent(PROBE))
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    builtin = ["object_start", "object_end", "zone_enter", "zone_exit", "dwell", "line_cross", "speeding"]
    assert found["types"][: len(builtin)] == builtin
    assert found["types"][len(builtin) :] == ["lane_change"] and found["origin"] == "vigil-lanes 0.1"
    assert found["record"] == "lane_change"
    assert (found["counted"], found["inside"], found["occupancy"]) == (1.0, 1.0, [["road", "fast", "car"]])
    assert found["options"] == found["types"] and found["openapi"] == found["types"]
    assert found["query"] == "lane_change"
    # The clashing plugin is named, and the type it declared before the clash is undone with it.
    assert found["failures"] == ["vigil-clash 0.1"] and "first_of_two" not in found["types"]
    assert "field 'zone' is declared as string" in proc.stderr and "kinds left out: first_of_two" in proc.stderr
