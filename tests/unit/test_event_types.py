"""The event types: a section of the catalog (`CATALOG.event_types`), declared once, open to new
types, held to by `Event` and by docs/OUTPUT.md's table of types, and read by the metrics and
MQTT discovery through each type's facts (its `area` and `direction` fields, its occupancy)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from vigil.catalog import CATALOG, EventField, EventTypeKind, markdown_table
from vigil.daemon.metrics import PrometheusMetrics
from vigil.events import Event
from vigil.sinks._mqtt_discovery import Discovery, Occupancy

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "OUTPUT.md"
T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
TYPES = CATALOG.event_types


def builtin() -> tuple[EventTypeKind, ...]:
    return TYPES.builtin()


def event(type_: str, **fields: object) -> Event:
    return Event(type=type_, source="cam", tracker_id=1, class_name="person", class_id=0, capture_time=T0, seq=3, **fields)  # type: ignore[arg-type]


@pytest.fixture
def declared() -> Iterator[list[str]]:
    """Names registered by the test, forgotten after it."""
    names: list[str] = []
    yield names
    for name in names:
        TYPES.unregister(name)


def test_outputs_table_of_event_types_is_the_registrys():
    text = OUTPUT.read_text(encoding="utf-8")
    found = re.search(r"<!-- event-types: begin[^\n]*-->\n(.*?)\n<!-- event-types: end -->", text, re.S)
    assert found, "docs/OUTPUT.md lost its event-types markers"
    expected = markdown_table(builtin())
    assert found.group(1) == expected, (
        "docs/OUTPUT.md's event types and the catalog's disagree; paste the output of `python -c 'from vigil.catalog "
        "import *; print(markdown_table(CATALOG.event_types.builtin()))'` between the markers"
    )


def test_the_table_check_sees_a_missing_field_and_a_missing_type():
    doc, kinds = markdown_table(builtin()), builtin()
    fewer_fields = (*kinds[:-1], EventTypeKind("line_cross", "x", "y", kinds[-1].fields[:1]))
    assert markdown_table(fewer_fields) != doc
    assert markdown_table(kinds[:-1]) != doc
    uncounted = (*kinds[:-1], EventTypeKind("line_cross", kinds[-1].when, kinds[-1].at, kinds[-1].fields, rule="lines"))
    assert markdown_table(uncounted) != doc  # the metrics that count a type are in its row
    rows = [line.split(" | ")[0].strip("| `") for line in doc.splitlines()[2:8]]
    assert rows == ["object_start", "object_end", "zone_enter", "zone_exit", "dwell", "line_cross"]


def test_the_builtin_types_are_declared_with_their_fields_and_rules():
    assert TYPES.names()[:6] == ("object_start", "object_end", "zone_enter", "zone_exit", "dwell", "line_cross")
    assert TYPES.get("object_end").field_names == (
        "first_seen",
        "last_seen",
        "duration_s",
        "best",
        "speed_kmh_max",
        "speed_kmh_mean",
    )
    assert TYPES.get("line_cross").field_names == ("line", "direction", "relinked", "relinked_from", "relinked_by", "speed_kmh")
    assert {kind.name: kind.rule for kind in builtin()} == {
        "object_start": "lifecycle",
        "object_end": "lifecycle",
        "zone_enter": "zones",
        "zone_exit": "zones",
        "dwell": "dwell",
        "line_cross": "lines",
        "speeding": "speeding",
    }
    order = sorted(TYPES.names()[:6], key=TYPES.sort_order)
    assert order == ["object_start", "zone_exit", "line_cross", "zone_enter", "dwell", "object_end"]
    assert [TYPES.occupancy(n) for n in ("zone_enter", "zone_exit", "object_end", "dwell", "nope")] == [
        "enter",
        "exit",
        "end",
        None,
        None,
    ]


def test_an_event_of_an_undeclared_type_is_refused_naming_the_known_ones():
    with pytest.raises(
        ValueError, match=r"'zone_entered' is not an event type; use one of object_start, .*CATALOG.event_types.register"
    ):
        Event(type="zone_entered", source="cam", tracker_id=1, class_name=None, class_id=0, capture_time=T0, seq=0)


def test_a_registered_type_makes_events_until_it_is_unregistered(declared):
    kind = TYPES.register(
        EventTypeKind(
            "wrong_way",
            "crossed against the arrow",
            "first frame across",
            (EventField("line", "string", "The line's name."),),
            rule="arrows",
            area="line",
        )
    )
    declared.append("wrong_way")
    assert TYPES.register(kind) is kind  # the same declaration again: nothing changes
    event = Event(type="wrong_way", source="cam", tracker_id=1, class_name=None, class_id=0, capture_time=T0, seq=3, line="ramp")
    assert event.to_record()["type"] == "wrong_way" and TYPES.names()[-1] == "wrong_way"
    assert "`wrong_way` | crossed against the arrow" in markdown_table(TYPES)
    TYPES.unregister("wrong_way")
    assert "wrong_way" not in TYPES.names()
    with pytest.raises(ValueError, match="not an event type"):
        Event(type="wrong_way", source="cam", tracker_id=1, class_name=None, class_id=0, capture_time=T0, seq=3)


@pytest.mark.parametrize(
    "kind, message",
    [
        (EventTypeKind("zone_enter", "again", "x", rule="mine"), r"declared already \(by rule 'zones'\)"),
        (EventTypeKind("Bad Name", "x", "x"), "lower_snake_case"),
        (EventTypeKind("x" * 49, "x", "x"), "lower_snake_case"),
        (EventTypeKind("late", "x", "x", (EventField("zone", "number", "How far."),)), r"field 'zone' is declared as string"),
        (EventTypeKind("nowhere", "x", "x", area="lane"), r"its area label names field 'lane', which it does not declare"),
        (EventTypeKind("counted", "x", "x", occupancy="enter"), r"occupancy 'enter' needs `area`"),
    ],
)
def test_a_clashing_or_badly_named_declaration_is_refused(kind, message, declared):
    with pytest.raises(ValueError, match=message):
        TYPES.register(kind)
    assert kind.name not in TYPES.names() or kind.name == "zone_enter"


def test_a_builtin_type_cannot_be_unregistered():
    with pytest.raises(ValueError, match="built in"):
        TYPES.unregister("dwell")
    assert "dwell" in TYPES.names()


def test_the_event_imports_nothing_beyond_the_standard_library_pydantic_and_the_catalog():
    import subprocess
    import sys

    code = (
        "import sys, vigil; before = set(sys.modules); import vigil.events; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in sys.stdlib_module_names "
        "and m.split('.')[0] not in ('pydantic', 'pydantic_core', 'typing_extensions', 'annotated_types', 'typing_inspection') "
        "and m not in ('vigil.events', 'vigil.errors') and not m.startswith(('vigil.catalog', '_sysconfigdata'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("type_", "fields", "labels"),
    [
        ("object_start", {}, ("", "")),
        ("zone_enter", {"zone": "door"}, ("door", "")),
        ("dwell", {"zone": "door", "extra": {"dwell_s": 3.0}}, ("door", "")),
        ("line_cross", {"line": "gate", "direction": "in"}, ("gate", "in")),
    ],
)
def test_the_builtin_types_name_the_fields_of_their_metric_labels(type_, fields, labels):
    assert TYPES.get(type_).labels(event(type_, **fields).value_of) == labels


def test_a_declared_type_is_counted_by_its_own_fields_and_offered_by_mqtt_discovery(declared):
    TYPES.register(
        EventTypeKind(
            "lane_change",
            "a vehicle changed lanes",
            "the first frame in the new lane",
            (EventField("lane", "string", "The lane it moved into."), EventField("side", "string", "left or right.")),
            rule="lanes",
            occupancy="enter",
            area="lane",
            direction="side",
        )
    )
    declared.append("lane_change")
    changed = event("lane_change", extra={"lane": "fast", "side": "left"})
    metrics = PrometheusMetrics()
    metrics.events([changed, event("line_cross", line="gate", direction="out")])
    sample = metrics.registry.get_sample_value
    assert sample("vigil_events_total", {"source": "cam", "type": "lane_change", "area": "fast", "direction": "left"}) == 1
    assert sample("vigil_events_total", {"source": "cam", "type": "line_cross", "area": "gate", "direction": "out"}) == 1
    assert sample("vigil_zone_objects", {"source": "cam", "zone": "fast", "class_name": "person"}) == 1
    assert Occupancy().apply(changed) == [("cam", "fast", "person")]
    configs = Discovery("vigil", "homeassistant", "box").camera("cam")
    last_event = next(payload for topic, payload in configs.items() if topic.endswith("/cam_last_event/config"))
    options = json.loads(last_event)["options"]
    assert options[:6] == ["object_start", "object_end", "zone_enter", "zone_exit", "dwell", "line_cross"]
    assert options[-1] == "lane_change"
    assert "`vigil_events` (area: `lane`, direction: `side`), `vigil_zone_objects` (enter)" in markdown_table(TYPES)
