"""Speeding: one `speeding` event per stay in a zone with a `speed_limit_kmh`, at the first frame
the object's smoothed speed (vigil.stages._speed) is over the limit while it is inside. A stay is
debounced as the zones rule's (inside, or outside, for `min_seen_s`): a step out shorter than
that neither ends it nor lets it speed twice."""

from __future__ import annotations

from vigil.events import Event
from vigil.stages.rules.base import Debounced, EventRule, FrameView, RuleContext, TrackedObject

__all__ = ["SpeedingRule"]


class SpeedingRule(EventRule):
    """Speeding events (see the module's docstring); made when a zone has a speed limit."""

    def __init__(self, context: RuleContext) -> None:
        self.context = context
        self.min_seen_s = context.config.min_seen_s
        self.limits = {zone.name: zone.speed_limit_kmh for zone in context.config.zones if zone.speed_limit_kmh is not None}
        # By tracker id: inside each limited zone (debounced), and the zones whose stay has sped.
        self.states: dict[int, tuple[dict[str, Debounced], set[str]]] = {}

    @classmethod
    def make(cls, context: RuleContext) -> SpeedingRule | None:
        return cls(context) if any(zone.speed_limit_kmh is not None for zone in context.config.zones) else None

    def observe(self, view: FrameView) -> list[Event]:
        events = []
        for k, obj in enumerate(view.objects):
            zones, sped = self.states.setdefault(obj.tracker_id, ({}, set()))
            for zone in view.shapes.zones:
                limit = self.limits.get(zone.name)
                if limit is None:
                    continue
                inside = bool(view.inside(zone)[k]) and obj.wanted(zone.config.classes)
                state = zones.setdefault(zone.name, Debounced(value=False))
                if state.observe(inside, obj.last, self.min_seen_s) is not None:
                    sped.discard(zone.name)
                kmh = obj.speed.kmh
                if inside and state.value and zone.name not in sped and kmh is not None and kmh > limit:
                    sped.add(zone.name)
                    events.append(self.context.event("speeding", obj, obj.last, zone=zone.name, speed_limit_kmh=limit))
        return events

    def end(self, obj: TrackedObject) -> list[Event]:
        self.states.pop(obj.tracker_id, None)
        return []
