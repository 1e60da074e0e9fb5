"""The catalog's section of event types (`CATALOG.event_types`): each type declared once, as an
`EventTypeKind` with its record's fields, the rule that makes it and the metrics that count it.

`Event` (vigil.events) refuses a type that is not declared, and the parts that enumerate types
read this section instead of a list of their own: the metrics (`vigil_events`' labels, the zone
counts), MQTT discovery, the OpenAPI document's event filter, the event store's query check and
the table in docs/OUTPUT.md (a test checks it against `markdown_table()`). The built-in types are
entries of `vigil.catalog.builtin.KINDS`; a rule from another package declares its own like any
kind, in its `vigil.kinds` entry point or at run time before it makes events:

    CATALOG.event_types.register(EventTypeKind(
        "loiter_alarm", "an object stayed in a zone past its alarm time", "the frame that reached it",
        fields=(EventField("zone", "string", "The zone's name."),), rule="loiter", area="zone"))
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from vigil.catalog.kinds import EVENT_LABELS, EventField, EventTypeKind, Occupancy

if TYPE_CHECKING:
    from vigil.catalog import Catalog

__all__ = ["EventTypeRegistry", "markdown_table"]

_DEFAULT_ORDER = 45
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")  # a metric label and an MQTT value, never free text


class EventTypeRegistry:
    """The declared event types, in declaration order (the built-in ones first). Reading it
    loads the catalog's built-in and plugin kinds first (once), as every section does."""

    what = "event type"
    kind_type = EventTypeKind

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._kinds: dict[str, EventTypeKind] = {}
        self._lock = threading.Lock()
        self.version = 0

    def register(self, kind: EventTypeKind, *, replace: bool = False) -> EventTypeKind:
        """Declare a new event type (the same declaration again is a no-op). A ValueError when
        the name is not lower_snake_case, is declared otherwise already, gives a field a type or
        meaning another type gives it differently (a field means one thing in every record), or
        names a label field its record does not carry."""
        self._catalog.load()
        return self._add(kind, replace=replace)

    def _add(self, kind: EventTypeKind, *, replace: bool = False) -> EventTypeKind:
        if not _NAME.match(kind.name):
            raise ValueError(f"event type '{kind.name}': a name is lower_snake_case, 1 to 48 characters")
        origin = self._catalog.loading_origin
        if origin is not None and kind.origin is None:
            kind = dataclasses.replace(kind, origin=origin)
        _check_labels(kind)
        with self._lock:
            known = self._kinds.get(kind.name)
            if known is not None and dataclasses.replace(known, origin=kind.origin) == kind:
                return known
            if known is not None and not replace:
                raise ValueError(f"event type '{kind.name}' is declared already (by rule '{known.rule}'); pick another name")
            for declared in (f for other in self._kinds.values() if other.name != kind.name for f in other.fields):
                mine = next((f for f in kind.fields if f.name == declared.name), None)
                if mine is not None and mine != declared:
                    raise ValueError(
                        f"event type '{kind.name}': field '{mine.name}' is declared as "
                        f"{declared.type} ({declared.meaning}); give it that meaning or another name"
                    )
            self._kinds[kind.name] = kind
            self.version += 1
        return kind

    def unregister(self, name: str) -> None:
        """Forget a type declared since (a plugin unloaded, a test done); the built-in ones stay."""
        kind = self._kinds.get(name)
        if kind is not None and kind.origin == "vigil":
            raise ValueError(f"event type '{name}' is built in; it cannot be removed")
        with self._lock:
            if self._kinds.pop(name, None) is not None:
                self.version += 1

    def get(self, name: str) -> EventTypeKind:
        """The declaration of `name`; a ValueError naming the known types when there is none."""
        kind = self.find(name)
        if kind is None:
            raise ValueError(self.unknown(name))
        return kind

    def find(self, name: str) -> EventTypeKind | None:
        """The declaration of `name`, None when there is none (a type no longer declared)."""
        self._catalog.load()
        return self._kinds.get(name)

    def unknown(self, name: object) -> str:
        failures = "".join(f"; {failure}" for failure in self._catalog.failures)
        return (
            f"'{name}' is not an event type; use one of {', '.join(self.names())}, or declare it in the catalog "
            f"(an EventTypeKind: CATALOG.event_types.register, or a plugin's vigil.kinds entry point){failures}"
        )

    def check(self, name: str) -> str:
        """`name` when it is a declared type (see `get`)."""
        return self.get(name).name

    def declared(self) -> list[EventTypeKind]:
        """Every declared type: the built-in ones first, then the others in their order."""
        self._catalog.load()
        return list(self._kinds.values())

    def builtin(self) -> tuple[EventTypeKind, ...]:
        return tuple(kind for kind in self.declared() if kind.origin == "vigil")

    def names(self) -> tuple[str, ...]:
        return tuple(kind.name for kind in self.declared())

    def __iter__(self) -> Iterator[EventTypeKind]:
        return iter(self.declared())

    def __contains__(self, name: object) -> bool:
        self._catalog.load()
        return name in self._kinds

    def occupancy(self, name: str) -> Occupancy | None:
        """What an event of type `name` does to a zone's occupancy count (None: nothing, or a
        type no longer declared)."""
        kind = self.find(name)
        return None if kind is None else kind.occupancy

    def sort_order(self, name: str) -> int:
        """Where an event of type `name` sorts among a frame's events at one capture time."""
        kind = self.find(name)
        return _DEFAULT_ORDER if kind is None else kind.order


def _check_labels(kind: EventTypeKind) -> None:
    for label, name in zip(EVENT_LABELS, (kind.area, kind.direction)):
        if name is not None and name not in kind.field_names:
            raise ValueError(f"event type '{kind.name}': its {label} label names field '{name}', which it does not declare")
    if kind.occupancy in ("enter", "exit") and kind.area is None:
        raise ValueError(f"event type '{kind.name}': occupancy '{kind.occupancy}' needs `area`, the field naming its zone")


def markdown_table(kinds: Iterable[EventTypeKind]) -> str:
    """The table of event types docs/OUTPUT.md shows (and a test holds it to): a row per type,
    with the metrics that count it, then a row per field."""
    kinds = tuple(kinds)
    rows = ["| Type | When | Its `seq` / `capture_time` | Fields | Made by | Counted by |", "|---|---|---|---|---|---|"]
    rows += [
        f"| `{k.name}` | {k.when} | {k.at} | {', '.join(f'`{n}`' for n in k.field_names)} | `{k.rule}` | {', '.join(k.metrics())} |"
        for k in kinds
    ]
    fields: dict[str, tuple[EventField, list[str]]] = {}
    for kind in kinds:
        for f in kind.fields:
            fields.setdefault(f.name, (f, []))[1].append(kind.name)
    rows += ["", "| Field | Type | Meaning | In |", "|---|---|---|---|"]
    rows += [f"| `{f.name}` | {f.type} | {f.meaning} | {', '.join(f'`{t}`' for t in types)} |" for f, types in fields.values()]
    return "\n".join(rows)
