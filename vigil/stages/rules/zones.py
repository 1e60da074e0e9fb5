"""Zones: `zone_enter` / `zone_exit` once an object's anchor has been inside (or outside) a zone
for `min_seen_s`, and a `zone_exit` from every zone it is in when it ends. Draws the zones, with
the number of objects inside each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from vigil.events import Event
from vigil.result import Overlay
from vigil.stages._geometry import Shapes
from vigil.stages.rules.base import Debounced, EventRule, FrameView, RuleContext, TrackedObject

__all__ = ["ZoneRule"]


class ZoneRule(EventRule):
    """Zone enters and exits (see the module's docstring); made when the stage has zones."""

    def __init__(self, context: RuleContext) -> None:
        self.context = context
        self.min_seen_s = context.config.min_seen_s
        self.states: dict[int, tuple[TrackedObject, dict[str, Debounced]]] = {}  # by tracker id: in each zone?
        self._outlines: dict[int, tuple[Overlay, ...]] = {}  # per Shapes (one per frame size)

    @classmethod
    def make(cls, context: RuleContext) -> ZoneRule | None:
        return cls(context) if context.config.zones else None

    def observe(self, view: FrameView) -> list[Event]:
        events = []
        for k, obj in enumerate(view.objects):
            zones = self.states.setdefault(obj.tracker_id, (obj, {}))[1]
            for zone in view.shapes.zones:
                inside = bool(view.inside(zone)[k]) and obj.wanted(zone.config.classes)
                state = zones.setdefault(zone.name, Debounced(value=False))
                changed = state.observe(inside, obj.last, self.min_seen_s)
                if changed is not None:
                    events.append(self.context.event("zone_enter" if inside else "zone_exit", obj, changed, zone=zone.name))
        return events

    def end(self, obj: TrackedObject) -> list[Event]:
        _, zones = self.states.pop(obj.tracker_id, (obj, {}))
        return [self.context.event("zone_exit", obj, obj.last, zone=name) for name, state in zones.items() if state.value]

    def overlays(self, shapes: Shapes, events: Sequence[Event]) -> tuple[Overlay, ...]:
        outlines = self._outlines.get(id(shapes))
        if outlines is None:
            outlines = self._outlines[id(shapes)] = tuple(
                Overlay(z.name, "zone", tuple(map(tuple, z.polygon.tolist()))) for z in shapes.zones
            )
        inside = Counter(
            name for obj, zones in self.states.values() if obj.started for name, state in zones.items() if state.value
        )
        return tuple(replace(o, text=f"{inside[o.name]} inside") for o in outlines)
