"""The event types' registry: declared once, open to new types, held to by `Event` and by
docs/OUTPUT.md's table of types."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from vigil import event_types
from vigil.event_types import (
    BUILTIN_EVENT_TYPES,
    EventField,
    EventTypeSpec,
    event_type,
    event_type_names,
    markdown_table,
    occupancy,
    register_event_type,
    sort_order,
    unregister_event_type,
)
from vigil.events import Event

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "OUTPUT.md"
T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


@pytest.fixture
def declared() -> Iterator[list[str]]:
    """Names registered by the test, forgotten after it."""
    names: list[str] = []
    yield names
    for name in names:
        unregister_event_type(name)


def test_outputs_table_of_event_types_is_the_registrys():
    text = OUTPUT.read_text(encoding="utf-8")
    found = re.search(r"<!-- event-types: begin[^\n]*-->\n(.*?)\n<!-- event-types: end -->", text, re.S)
    assert found, "docs/OUTPUT.md lost its event-types markers"
    expected = markdown_table(BUILTIN_EVENT_TYPES)
    assert found.group(1) == expected, (
        "docs/OUTPUT.md's event types and vigil/event_types.py disagree; paste the output of "
        "`python -c 'from vigil.event_types import *; print(markdown_table(BUILTIN_EVENT_TYPES))'` between the markers"
    )


def test_the_table_check_sees_a_missing_field_and_a_missing_type():
    doc = markdown_table(BUILTIN_EVENT_TYPES)
    fewer_fields = (*BUILTIN_EVENT_TYPES[:-1], EventTypeSpec("line_cross", "x", "y", BUILTIN_EVENT_TYPES[-1].fields[:1]))
    assert markdown_table(fewer_fields) != doc
    assert markdown_table(BUILTIN_EVENT_TYPES[:-1]) != doc
    rows = [line.split(" | ")[0].strip("| `") for line in doc.splitlines()[2:8]]
    assert rows == ["object_start", "object_end", "zone_enter", "zone_exit", "dwell", "line_cross"]


def test_the_builtin_types_are_declared_with_their_fields_and_rules():
    assert event_type_names()[:6] == ("object_start", "object_end", "zone_enter", "zone_exit", "dwell", "line_cross")
    assert event_type("object_end").field_names == ("first_seen", "last_seen", "duration_s", "best")
    assert event_type("line_cross").field_names == ("line", "direction")
    assert {spec.name: spec.rule for spec in BUILTIN_EVENT_TYPES} == {
        "object_start": "lifecycle",
        "object_end": "lifecycle",
        "zone_enter": "zones",
        "zone_exit": "zones",
        "dwell": "dwell",
        "line_cross": "lines",
    }
    order = sorted(event_type_names()[:6], key=sort_order)
    assert order == ["object_start", "zone_exit", "line_cross", "zone_enter", "dwell", "object_end"]
    assert [occupancy(n) for n in ("zone_enter", "zone_exit", "object_end", "dwell", "nope")] == [
        "enter",
        "exit",
        "end",
        None,
        None,
    ]


def test_an_event_of_an_undeclared_type_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"'zone_entered' is not an event type; use one of object_start, .*register_event_type"):
        Event(type="zone_entered", source="cam", tracker_id=1, class_name=None, class_id=0, capture_time=T0, seq=0)


def test_a_registered_type_makes_events_until_it_is_unregistered(declared):
    spec = register_event_type(
        EventTypeSpec(
            "wrong_way",
            "crossed against the arrow",
            "first frame across",
            (EventField("line", "string", "The line's name."),),
            rule="arrows",
        )
    )
    declared.append("wrong_way")
    assert register_event_type(spec) is spec  # the same declaration again: nothing changes
    event = Event(type="wrong_way", source="cam", tracker_id=1, class_name=None, class_id=0, capture_time=T0, seq=3, line="ramp")
    assert event.to_record()["type"] == "wrong_way" and event_type_names()[-1] == "wrong_way"
    assert "`wrong_way` | crossed against the arrow" in markdown_table()
    unregister_event_type("wrong_way")
    assert "wrong_way" not in event_type_names()
    with pytest.raises(ValueError, match="not an event type"):
        Event(type="wrong_way", source="cam", tracker_id=1, class_name=None, class_id=0, capture_time=T0, seq=3)


@pytest.mark.parametrize(
    "spec, message",
    [
        (EventTypeSpec("zone_enter", "again", "x", rule="mine"), r"declared already \(by rule 'zones'\)"),
        (EventTypeSpec("Bad Name", "x", "x"), "lower_snake_case"),
        (EventTypeSpec("x" * 49, "x", "x"), "lower_snake_case"),
        (EventTypeSpec("late", "x", "x", (EventField("zone", "number", "How far."),)), r"field 'zone' is declared as string"),
    ],
)
def test_a_clashing_or_badly_named_declaration_is_refused(spec, message, declared):
    with pytest.raises(ValueError, match=message):
        register_event_type(spec)
    assert spec.name not in event_type_names() or spec.name == "zone_enter"


def test_a_builtin_type_cannot_be_unregistered():
    with pytest.raises(ValueError, match="built in"):
        unregister_event_type("dwell")
    assert "dwell" in event_type_names()


def test_the_registry_and_the_event_import_nothing_beyond_the_standard_library():
    import subprocess
    import sys

    code = (
        "import sys, vigil; before = set(sys.modules); import vigil.events; "
        "print(sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] not in sys.stdlib_module_names and m not in ('vigil.event_types', 'vigil.events')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
    assert event_types.__name__ == "vigil.event_types"
