"""The event types: each declared once, with what it means, the fields its record carries beyond
the common ones (docs/OUTPUT.md, "Events") and the rule that makes it (`vigil.stages.rules`).

`Event` (vigil.events) refuses a type that is not declared here, and the parts that enumerate
types read this registry instead of a list of their own: the metrics' zone counts, MQTT
discovery, the table in docs/OUTPUT.md (a test checks it against `markdown_table()`). A new
rule, in vigil or in a third-party package, declares its own types before it makes events:

    register_event_type(EventTypeSpec(
        "loiter_alarm", "an object stayed in a zone past its alarm time", "the frame that reached it",
        fields=(EventField("zone", "string", "The zone's name."),), rule="loiter"))

Stdlib only, and nothing is done at import beyond declaring the built-in types.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BUILTIN_EVENT_TYPES",
    "EventField",
    "EventTypeSpec",
    "Occupancy",
    "check_event_type",
    "event_type",
    "event_type_names",
    "event_types",
    "markdown_table",
    "occupancy",
    "register_event_type",
    "sort_order",
    "unregister_event_type",
]

# What an event does to a zone's occupancy count (the metrics' vigil_zone_objects, MQTT's zone
# sensors): `enter` counts its object in its zone, `exit` takes it out of that zone, `end` out of
# every zone of its source.
Occupancy = Literal["enter", "exit", "end"]
_DEFAULT_ORDER = 45
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")  # a metric label and an MQTT value, never free text


@dataclass(frozen=True, slots=True)
class EventField:
    """A field an event type's record carries: its JSON key, JSON type and meaning."""

    name: str
    type: str  # as docs/OUTPUT.md writes it: string, number, "`in` / `out`", ISO 8601 UTC, object
    meaning: str


@dataclass(frozen=True, slots=True)
class EventTypeSpec:
    """One event type. `when`: what makes it (one line); `at`: the frame whose `seq` and
    `capture_time` it carries; `order`: where it sorts among the events of one frame at the same
    capture time (object_start first, object_end last)."""

    name: str
    when: str
    at: str
    fields: tuple[EventField, ...] = ()
    rule: str = ""  # the rule (vigil.stages.rules) that makes it
    order: int = 45  # _DEFAULT_ORDER: between dwell (40) and object_end (50) unless told
    occupancy: Occupancy | None = None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


_FIRST_SEEN = EventField("first_seen", "ISO 8601 UTC", "When the track was first seen.")
_ZONE = EventField("zone", "string", "The zone's name.")
BUILTIN_EVENT_TYPES: tuple[EventTypeSpec, ...] = (
    EventTypeSpec(
        "object_start", "the track has been seen for `min_seen_s`", "first seen", (_FIRST_SEEN,), rule="lifecycle", order=0
    ),
    EventTypeSpec(
        "object_end",
        "the track has not been seen for `lost_s`",
        "last seen",
        (
            _FIRST_SEEN,
            EventField("last_seen", "ISO 8601 UTC", "When the track was last seen."),
            EventField("duration_s", "number", "Seconds from `first_seen` to `last_seen`."),
            EventField("best", "object", "The most confident sighting, `{seq, capture_time, confidence}`: the frame of `box`."),
        ),
        rule="lifecycle",
        order=50,
        occupancy="end",
    ),
    EventTypeSpec(
        "zone_enter",
        "the anchor has been inside the zone for `min_seen_s`",
        "first frame inside",
        (_ZONE,),
        rule="zones",
        order=30,
        occupancy="enter",
    ),
    EventTypeSpec(
        "zone_exit",
        "the anchor has been outside for `min_seen_s`, or the track ended",
        "first frame outside; last seen when the track ended",
        (_ZONE,),
        rule="zones",
        order=10,
        occupancy="exit",
    ),
    EventTypeSpec(
        "dwell",
        "inside for the zone's `dwell_s` (once per stay: loitering)",
        "the frame that reached `dwell_s`",
        (
            _ZONE,
            EventField("dwell_s", "number", "Seconds the object had been inside at this frame."),
            EventField("entered_at", "ISO 8601 UTC", "The first frame of the stay."),
        ),
        rule="dwell",
        order=40,
    ),
    EventTypeSpec(
        "line_cross",
        "the anchor has been on the other side for `min_seen_s`",
        "first frame on the other side",
        (
            EventField("line", "string", "The line's name."),
            EventField("direction", "`in` / `out`", "The way it was crossed."),
        ),
        rule="lines",
        order=20,
    ),
)
_types: dict[str, EventTypeSpec] = {spec.name: spec for spec in BUILTIN_EVENT_TYPES}
_lock = threading.Lock()


def register_event_type(spec: EventTypeSpec) -> EventTypeSpec:
    """Declare a new event type (the same declaration again is a no-op). A ValueError when the
    name is not lower_snake_case, is declared otherwise already, or gives a field a type or
    meaning another type gives it differently (a field means one thing in every record)."""
    if not _NAME.match(spec.name):
        raise ValueError(f"event type '{spec.name}': a name is lower_snake_case, 1 to 48 characters")
    with _lock:
        known = _types.get(spec.name)
        if known == spec:
            return spec
        if known is not None:
            raise ValueError(f"event type '{spec.name}' is declared already (by rule '{known.rule}'); pick another name")
        for declared in _fields():
            mine = next((f for f in spec.fields if f.name == declared.name), None)
            if mine is not None and mine != declared:
                raise ValueError(
                    f"event type '{spec.name}': field '{mine.name}' is declared as "
                    f"{declared.type} ({declared.meaning}); give it that meaning or another name"
                )
        _types[spec.name] = spec
    return spec


def unregister_event_type(name: str) -> None:
    """Forget a type `register_event_type` added (a plugin unloaded, a test done); the built-in
    ones stay."""
    if any(spec.name == name for spec in BUILTIN_EVENT_TYPES):
        raise ValueError(f"event type '{name}' is built in; it cannot be removed")
    with _lock:
        _types.pop(name, None)


def event_type(name: str) -> EventTypeSpec:
    """The declaration of `name`; a ValueError naming the known types when there is none."""
    spec = _types.get(name)
    if spec is None:
        raise ValueError(
            f"'{name}' is not an event type; use one of {', '.join(event_type_names())}, "
            "or declare it with vigil.event_types.register_event_type"
        )
    return spec


def occupancy(name: str) -> Occupancy | None:
    """What an event of type `name` does to a zone's occupancy count (None: nothing, or a type
    no longer declared)."""
    spec = _types.get(name)
    return None if spec is None else spec.occupancy


def sort_order(name: str) -> int:
    """Where an event of type `name` sorts among a frame's events at one capture time."""
    spec = _types.get(name)
    return _DEFAULT_ORDER if spec is None else spec.order


def check_event_type(name: str) -> str:
    """`name` when it is a declared type (see `event_type`)."""
    return event_type(name).name


def event_types() -> tuple[EventTypeSpec, ...]:
    """Every declared type: the built-in ones first, then the registered ones in their order."""
    with _lock:
        return tuple(_types.values())


def event_type_names() -> tuple[str, ...]:
    return tuple(spec.name for spec in event_types())


def _fields() -> list[EventField]:
    return [f for spec in _types.values() for f in spec.fields]


def markdown_table(specs: tuple[EventTypeSpec, ...] | None = None) -> str:
    """The table of event types docs/OUTPUT.md shows (and a test holds it to): a row per type,
    then a row per field."""
    specs = event_types() if specs is None else specs
    rows = ["| Type | When | Its `seq` / `capture_time` | Fields | Made by |", "|---|---|---|---|---|"]
    rows += [f"| `{s.name}` | {s.when} | {s.at} | {', '.join(f'`{n}`' for n in s.field_names)} | `{s.rule}` |" for s in specs]
    fields: dict[str, tuple[EventField, list[str]]] = {}
    for spec in specs:
        for f in spec.fields:
            fields.setdefault(f.name, (f, []))[1].append(spec.name)
    rows += ["", "| Field | Type | Meaning | In |", "|---|---|---|---|"]
    rows += [f"| `{f.name}` | {f.type} | {f.meaning} | {', '.join(f'`{t}`' for t in types)} |" for f, types in fields.values()]
    return "\n".join(rows)
