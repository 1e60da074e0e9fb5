"""The rule face: what an event rule sees of a frame and of the objects tracked in it, and what it
answers (events, and the shapes it draws).

The `zones` stage (vigil.stages.zones) keeps one `TrackedObject` per tracker id (its sightings,
voted class, best confidence, clip) and calls each of its rules in turn with a `FrameView` of
every frame; a rule keeps its own state per object (inside a zone, which side of a line) and
answers the events that frame made. The stage holds an object's events until it has started
(`TrackedObject.started`, set by the lifecycle rule), so a rule never needs to care about
detector flicker, and sorts a frame's events by capture time and type.

    class FirstSeen(EventRule):  # a `first_seen` event per object, the frame it was first seen
        def __init__(self, context: RuleContext) -> None:
            self.context, self.told = context, set()

        def observe(self, view: FrameView) -> list[Event]:
            new = [o for o in view.objects if o.tracker_id not in self.told]
            self.told.update(o.tracker_id for o in new)
            return [self.context.event("first_seen", o, o.first) for o in new]

        def end(self, obj: TrackedObject) -> list[Event]:
            self.told.discard(obj.tracker_id)
            return []
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.catalog import CATALOG
from vigil.events import Event
from vigil.result import Overlay
from vigil.stages._geometry import PixelLine, PixelZone, Shapes, line_sides

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder
    from vigil.config.zones import ZonesStageConfig

__all__ = ["Debounced", "EventRule", "FrameView", "Moment", "RuleContext", "Speed", "TrackedObject", "iso"]


@dataclass(slots=True)
class Moment:
    """A sighting of an object: when (capture time `t`, seq, the frame) and where (its box)."""

    t: float
    seq: int
    frame: Any  # the Frame: its capture_time, and its image for snapshots
    box: tuple[float, float, float, float] | None = None
    gated_s: float = 0.0  # the stage's total of time a gate skipped, at this moment


@dataclass(slots=True)
class Debounced:
    """A boolean (inside a zone, which side of a line) that changes only once the new value
    has held for `min_seen_s`; `since` is the first frame of the value being confirmed."""

    value: bool | None = None
    since: Moment | None = None
    candidate: bool | None = None
    candidate_since: Moment | None = None

    def observe(self, value: bool, now: Moment, hold_s: float) -> Moment | None:
        """The moment the value changed, when `value` has just been confirmed as the new one."""
        if self.value is None:  # the first observation seeds it (supervision's LineZone does so too)
            self.value, self.since = value, now
            return None
        if value == self.value:
            self.candidate = self.candidate_since = None
            return None
        if self.candidate != value:
            self.candidate, self.candidate_since = value, now
        assert self.candidate_since is not None
        if now.t - self.candidate_since.t < hold_s:
            return None
        self.value, self.since = value, self.candidate_since
        self.candidate = self.candidate_since = None
        return self.since


@dataclass(slots=True)
class Speed:
    """An object's speed on the ground (km/h, vigil.stages._speed): the latest smoothed value (None
    until its positions span enough of the window), and the highest and the mean of those so far."""

    kmh: float | None = None
    max_kmh: float = 0.0
    total_kmh: float = 0.0
    measured: int = 0  # frames with a value

    def add(self, kmh: float | None) -> None:
        self.kmh = kmh
        if kmh is not None:
            self.max_kmh = max(self.max_kmh, kmh)
            self.total_kmh += kmh
            self.measured += 1


@dataclass(slots=True)
class TrackedObject:
    """What the stage knows of one track: shared by every rule, changed only by the stage (and
    `started` / `clip` by the lifecycle rule)."""

    tracker_id: int
    first: Moment
    last: Moment  # the latest sighting (this frame's, for the objects of a FrameView)
    votes: Counter[int] = field(default_factory=Counter)
    names: dict[int, str | None] = field(default_factory=dict)
    best_confidence: float = 0.0
    best: Moment | None = None  # the sighting with the best confidence (object_end's frame)
    started: bool = False
    clip: str | None = None  # the path of its clip, when the source records them
    attached: dict[str, Any] = field(default_factory=dict)  # the latest cascade outputs (vigil.stages.cascade)
    speed: Speed = field(default_factory=Speed)  # measured when the source has a speed calibration

    @property
    def class_id(self) -> int:
        return self.votes.most_common(1)[0][0]

    def wanted(self, classes: Sequence[str | int] | None) -> bool:
        """Whether a shape limited to `classes` (names or ids; None: every class) counts this object."""
        if classes is None:
            return True
        class_id = self.class_id
        return class_id in classes or self.names.get(class_id) in classes


class FrameView:
    """One frame as the rules see it: `now`, the zones and lines in its pixels (`shapes`), and the
    tracked objects seen in it (`objects`, in detection order; `boxes` their xyxy rows). Point
    tests are made once per frame, for every object at once, by whichever rule asks first."""

    def __init__(self, now: Moment, shapes: Shapes, objects: list[TrackedObject], boxes: np.ndarray) -> None:
        self.now, self.shapes, self.objects, self.boxes = now, shapes, objects, boxes
        self._inside: dict[str, np.ndarray] = {}
        self._sides: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._anchors: np.ndarray | None = None

    def inside(self, zone: PixelZone) -> np.ndarray:
        """Per object: whether its anchor is inside `zone` (supervision's `PolygonZone`)."""
        found = self._inside.get(zone.name)
        if found is None:
            found = self._inside[zone.name] = zone.contains(self.boxes)
        return found

    def sides(self, line: PixelLine) -> tuple[np.ndarray, np.ndarray]:
        """Per object: (between the line's ends, on its `in` side), as supervision's `LineZone` decides."""
        found = self._sides.get(line.name)
        if found is None:
            found = self._sides[line.name] = line_sides(line, self.anchors())
        return found

    def anchors(self) -> np.ndarray:
        """Per object: its anchor point (x, y) in pixels, as zones and lines test it."""
        if self._anchors is None:
            self._anchors = self.shapes.anchors(self.boxes)
        return self._anchors


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule is made with: the stage's config, the source and its clip recorder."""

    config: ZonesStageConfig
    source: str
    clips: ClipRecorder | None = None

    def event(
        self,
        type_: str,
        obj: TrackedObject,
        at: Moment,
        *,
        zone: str | None = None,
        line: str | None = None,
        direction: Any = None,
        **extra: Any,
    ) -> Event:
        """An event of `obj` at the sighting `at` (its frame, seq, capture time and box); with the
        object's `speed_kmh` when it has one and the type declares that field."""
        class_id = obj.class_id
        if obj.speed.kmh is not None and "speed_kmh" in CATALOG.event_types.get(type_).field_names:
            extra = {"speed_kmh": round(obj.speed.kmh, 2), **extra}
        return Event(
            type=type_,
            source=self.source,
            tracker_id=obj.tracker_id,
            class_name=obj.names.get(class_id),
            class_id=class_id,
            capture_time=at.frame.capture_time,
            seq=at.seq,
            confidence=obj.best_confidence,
            zone=zone,
            line=line,
            direction=direction,
            box=at.box,
            extra={**extra, "attached": {n: a.to_json() for n, a in obj.attached.items()}} if obj.attached else extra,
            frame=at.frame,
            clip=obj.clip,
        )


class EventRule(ABC):
    """One kind of event of a tracked source. Made once per source by its factory (registered in
    `vigil.stages.rules`), called on the stage's worker thread with that source's frames in order."""

    @abstractmethod
    def observe(self, view: FrameView) -> list[Event]:
        """The events this frame made (of the objects in `view.objects`, in their order)."""

    def end(self, obj: TrackedObject) -> list[Event]:
        """`obj` ended (unseen for `lost_s`, or the source ended): its last events; forget it.
        Called for every object, started or not (the stage drops the events of one that never started)."""
        return []

    def overlays(self, shapes: Shapes, events: Sequence[Event]) -> tuple[Overlay, ...]:
        """The shapes to draw on this frame (for the sinks that draw), given the events it sent."""
        return ()

    def close(self) -> None:
        """The source ended and every object has ended: finish what is pending."""


def iso(moment: Moment) -> str:
    """A capture time written as results and events write theirs (UTC, microseconds, `Z`)."""
    return str(moment.frame.capture_time.isoformat(timespec="microseconds").replace("+00:00", "Z"))
