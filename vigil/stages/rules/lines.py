"""Lines: `line_cross` `in` or `out`, as supervision's `LineZone` counts them, once an object's
anchor has been on the new side for `min_seen_s`. Draws the lines, with the crossings in and out
so far."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from vigil.events import Event
from vigil.result import Overlay
from vigil.stages._geometry import Shapes
from vigil.stages.rules.base import Debounced, EventRule, FrameView, RuleContext, TrackedObject

__all__ = ["LineRule"]


class LineRule(EventRule):
    """Line crossings (see the module's docstring); made when the stage has lines."""

    def __init__(self, context: RuleContext) -> None:
        self.context = context
        self.min_seen_s = context.config.min_seen_s
        self.states: dict[int, dict[str, Debounced]] = {}  # by tracker id: the side of each line
        self.crossed: dict[str, Counter[str]] = {line.name: Counter() for line in context.config.lines}  # in/out, sent
        self._outlines: dict[int, tuple[Overlay, ...]] = {}  # per Shapes (one per frame size)

    @classmethod
    def make(cls, context: RuleContext) -> LineRule | None:
        return cls(context) if context.config.lines else None

    def observe(self, view: FrameView) -> list[Event]:
        events = []
        for k, obj in enumerate(view.objects):
            for line in view.shapes.lines:
                in_limits, side = view.sides(line)
                if not (in_limits[k] and obj.wanted(line.config.classes)):
                    continue
                side_in = bool(side[k])
                state = self.states.setdefault(obj.tracker_id, {}).setdefault(line.name, Debounced())
                changed = state.observe(side_in, obj.last, self.min_seen_s)
                if changed is not None:
                    events.append(
                        self.context.event("line_cross", obj, changed, line=line.name, direction="in" if side_in else "out")
                    )
        return events

    def end(self, obj: TrackedObject) -> list[Event]:
        self.states.pop(obj.tracker_id, None)
        return []

    def overlays(self, shapes: Shapes, events: Sequence[Event]) -> tuple[Overlay, ...]:
        for event in events:
            if event.type == "line_cross" and event.line in self.crossed and event.direction is not None:
                self.crossed[event.line][event.direction] += 1
        outlines = self._outlines.get(id(shapes))
        if outlines is None:
            outlines = self._outlines[id(shapes)] = tuple(
                Overlay(ln.name, "line", (tuple(ln.start.tolist()), tuple(ln.end.tolist()))) for ln in shapes.lines
            )
        return tuple(replace(o, text=f"in {self.crossed[o.name]['in']} out {self.crossed[o.name]['out']}") for o in outlines)
