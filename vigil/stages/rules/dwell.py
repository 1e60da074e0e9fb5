"""Dwell: one `dwell` event per stay in a zone longer than its `dwell_s` (the zone's, else the
stage's), at the frame that reached it. A stay runs from the first frame of a confirmed
`zone_enter` to a confirmed `zone_exit` (debounced as the zones rule does, on its own), and
dwells only on a frame inside: a step out shorter than `min_seen_s` neither ends it nor dwells."""

from __future__ import annotations

from vigil.events import Event
from vigil.stages.rules.base import Debounced, EventRule, FrameView, RuleContext, TrackedObject, iso

__all__ = ["DwellRule"]


class DwellRule(EventRule):
    """Dwell events (see the module's docstring); made when a zone has a dwell time."""

    def __init__(self, context: RuleContext) -> None:
        self.context = context
        config = context.config
        self.min_seen_s = config.min_seen_s
        self.dwell_s = {zone.name: zone.dwell_s or config.dwell_s for zone in config.zones}
        # By tracker id: inside each zone (debounced as zone_enter / zone_exit are), and the
        # zones whose current stay has made its dwell event.
        self.states: dict[int, tuple[dict[str, Debounced], set[str]]] = {}

    @classmethod
    def make(cls, context: RuleContext) -> DwellRule | None:
        config = context.config
        return cls(context) if any(zone.dwell_s or config.dwell_s for zone in config.zones) else None

    def observe(self, view: FrameView) -> list[Event]:
        events = []
        for k, obj in enumerate(view.objects):
            zones, dwelled = self.states.setdefault(obj.tracker_id, ({}, set()))
            now = obj.last
            for zone in view.shapes.zones:
                dwell_s = self.dwell_s[zone.name]
                if dwell_s is None:
                    continue
                inside = bool(view.inside(zone)[k]) and obj.wanted(zone.config.classes)
                state = zones.setdefault(zone.name, Debounced(value=False))
                if state.observe(inside, now, self.min_seen_s) is not None:
                    dwelled.discard(zone.name)
                # `inside`: not while an exit is being confirmed (the stay ends at its first frame outside)
                if not (inside and state.value and zone.name not in dwelled and state.since is not None):
                    continue
                stayed = now.t - state.since.t
                if stayed >= dwell_s:
                    dwelled.add(zone.name)
                    events.append(
                        self.context.event(
                            "dwell", obj, now, zone=zone.name, dwell_s=round(stayed, 3), entered_at=iso(state.since)
                        )
                    )
        return events

    def end(self, obj: TrackedObject) -> list[Event]:
        self.states.pop(obj.tracker_id, None)
        return []
