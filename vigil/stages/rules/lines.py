"""Lines: `line_cross` `in` or `out` (supervision's `LineZone` sides), counted once per real
crossing. A crossing counts once the object's anchor has been on the new side for `min_seen_s`
and, at some frame of that, at least `hysteresis_px` past the line (null: a tenth of its box's
height): an object standing or jittering on the line is not counted again and again. A track
lost for at most `relink_s` whose predicted position a new track appears at (vigil.stages._relink)
hands that track its side of the line: a crossing begun under one tracker id and finished under
another counts once, `relinked: true` with the lost id in `relinked_from`. With
`relink_appearance`, tracks that both carry an embedding (a cascade of an embedding model) are
re-linked by how alike they look as well (`relinked_by: appearance`). Draws the lines, with the
crossings in and out so far."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vigil.events import Event
from vigil.result import Overlay
from vigil.stages._geometry import PixelLine, Shapes
from vigil.stages._relink import New, Trail, pairs
from vigil.stages.rules.base import EventRule, FrameView, Moment, RuleContext, TrackedObject

__all__ = ["LineRule", "LineSide"]

HYSTERESIS_SHARE = 0.1  # of the box's height: the default distance past the line


@dataclass(slots=True)
class LineSide:
    """Which side of one line a track is on (True: `in`), changed once the other side has held
    for `hold_s` and been reached `band` pixels past the line; `relinked_from`: the lost track
    whose side this is, until the track has been seen on it or has crossed."""

    value: bool | None = None
    candidate_since: Moment | None = None  # the first frame of the other side, while not yet confirmed
    beyond: bool = False  # the other side has been reached past the band
    relinked_from: int | None = None
    relinked_by: str = "motion"

    def observe(self, side_in: bool, distance: float, band: float, now: Moment, hold_s: float) -> Moment | None:
        """The first frame on the new side, when `side_in` has just been confirmed as the new side."""
        if self.value is None:  # the first observation seeds it (supervision's LineZone does so too)
            self.value = side_in
            return None
        if side_in == self.value:
            self.candidate_since, self.beyond, self.relinked_from = None, False, None
            return None
        if self.candidate_since is None:
            self.candidate_since, self.beyond = now, False
        self.beyond = self.beyond or distance >= band
        if not self.beyond or now.t - self.candidate_since.t < hold_s:
            return None
        since = self.candidate_since
        self.value, self.candidate_since, self.beyond = side_in, None, False
        return since


class LineRule(EventRule):
    """Line crossings (see the module's docstring); made when the stage has lines."""

    def __init__(self, context: RuleContext) -> None:
        self.context = context
        self.min_seen_s = context.config.min_seen_s
        self.states: dict[int, dict[str, LineSide]] = {}  # by tracker id: the side of each line
        self.trails: dict[int, Trail] = {}  # by tracker id: its recent anchors
        self.ended: dict[int, tuple[Trail, dict[str, LineSide]]] = {}  # ended tracks, while they may be re-linked
        self.relink_s = max((line.relink_s for line in context.config.lines), default=0.0)
        self.appearance = any(line.relink_appearance is not None for line in context.config.lines)
        self.crossed: dict[str, Counter[str]] = {line.name: Counter() for line in context.config.lines}  # in/out, sent
        self._outlines: dict[int, tuple[Overlay, ...]] = {}  # per Shapes (one per frame size)

    @classmethod
    def make(cls, context: RuleContext) -> LineRule | None:
        return cls(context) if context.config.lines else None

    def observe(self, view: FrameView) -> list[Event]:
        now, anchors = view.now, view.anchors()
        new = [k for k, obj in enumerate(view.objects) if obj.tracker_id not in self.trails]
        if new and self.relink_s > 0:
            self._relink(view, new, anchors)
        for k, obj in enumerate(view.objects):
            x1, y1, x2, y2 = (float(v) for v in view.boxes[k])
            trail = self.trails.setdefault(obj.tracker_id, Trail(obj.class_id))
            trail.class_id = obj.class_id
            trail.add(now.t, float(anchors[k][0]), float(anchors[k][1]), max(x2 - x1, y2 - y1))
            trail.appearance = _appearance(obj) if self.appearance else None
        events = []
        for line in view.shapes.lines:
            in_limits, side = view.sides(line)
            distances = _distances(line, anchors)
            for k, obj in enumerate(view.objects):
                if in_limits[k] and obj.wanted(line.config.classes):
                    events += self._observe(line, obj, bool(side[k]), float(distances[k]), view.boxes[k])
        self.ended = {tid: ended for tid, ended in self.ended.items() if now.t - ended[0].last_t <= self.relink_s}
        return events

    def _observe(self, line: PixelLine, obj: TrackedObject, side_in: bool, distance: float, box: np.ndarray) -> list[Event]:
        hysteresis = line.config.hysteresis_px
        band = HYSTERESIS_SHARE * float(box[3] - box[1]) if hysteresis is None else hysteresis
        state = self.states.setdefault(obj.tracker_id, {}).setdefault(line.name, LineSide())
        relinked_from = state.relinked_from
        changed = state.observe(side_in, distance, band, obj.last, self.min_seen_s)
        if changed is None:
            return []
        state.relinked_from = None
        relinked: dict[str, Any] = {"relinked": relinked_from is not None}
        if relinked_from is not None:
            relinked.update(relinked_from=relinked_from, relinked_by=state.relinked_by)
        direction = "in" if side_in else "out"
        return [self.context.event("line_cross", obj, changed, line=line.name, direction=direction, **relinked)]

    def _relink(self, view: FrameView, new: list[int], anchors: np.ndarray) -> None:
        """New tracks take over the sides of the lost tracks they continue (per line: its own window)."""
        seen = {obj.tracker_id for obj in view.objects}
        lost = {tid: (trail, self.states.get(tid, {})) for tid, trail in self.trails.items() if tid not in seen}
        lost.update(self.ended)
        for line in view.shapes.lines:
            config = line.config
            if config.relink_s <= 0:
                continue
            trails = {tid: trail for tid, (trail, sides) in lost.items() if line.name in sides}
            fresh = [
                New(k, (float(anchors[k][0]), float(anchors[k][1])), view.objects[k].class_id, _appearance(view.objects[k]))
                for k in new
                if view.objects[k].wanted(config.classes)
            ]
            found = pairs(fresh, trails, view.now.t, config.relink_s, config.relink_px, config.relink_appearance)
            for k, lost_id, by in found:
                side = lost[lost_id][1].pop(line.name)
                side.relinked_from, side.relinked_by = lost_id, by
                self.states.setdefault(view.objects[k].tracker_id, {})[line.name] = side

    def end(self, obj: TrackedObject) -> list[Event]:
        sides = self.states.pop(obj.tracker_id, None)
        trail = self.trails.pop(obj.tracker_id, None)
        if sides and trail is not None and self.relink_s > 0:
            self.ended[obj.tracker_id] = (trail, sides)
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


def _appearance(obj: TrackedObject) -> np.ndarray | None:
    """The track's embedding from a cascade of an embedding model (the first such cascade by name)."""
    for name in sorted(obj.attached):
        vector = getattr(obj.attached[name], "vector", None)
        if vector is not None:
            return np.asarray(vector)
    return None


def _distances(line: PixelLine, anchors: np.ndarray) -> np.ndarray:
    """Each anchor's distance from the line (pixels, perpendicular to it)."""
    vector = line.end - line.start
    diff = anchors - line.start
    return np.asarray(np.abs(vector[0] * diff[:, 1] - vector[1] * diff[:, 0]) / np.hypot(*vector))
