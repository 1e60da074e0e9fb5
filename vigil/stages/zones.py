"""The `zones` stage: events of a tracked source's objects (docs/OUTPUT.md, "Events"), made by
the event rules its config asks for (vigil.stages.rules: lifecycle, zones, lines, dwell).

Per track: `object_start` once seen for `min_seen_s`, `object_end` once unseen for `lost_s`
(capture time); per zone: `zone_enter` / `zone_exit` (in or out for `min_seen_s`), `dwell` once
per stay longer than the zone's `dwell_s`; per line: `line_cross` `in` / `out` as supervision's
`LineZone` counts them, the new side held for `min_seen_s`. An event carries the capture time
and seq of the frame where it happened, and leaves once it is certain (a debounced event up to
`min_seen_s` later, `object_end` `lost_s` later). Events of a track that never lives
`min_seen_s` are dropped with it, so detector flicker makes none. Detections without a tracker
id (None, or -1) are ignored.

Time a motion gate skipped does not count towards `lost_s`: a frame after a gap of skipped
frames (`Frame.skipped_before`) adds one frame's share of the gap to an unseen object's time,
as if only it had come. An object standing still while nothing moves keeps its track and makes
no `object_end`; the gate's keepalive frames still see it (or, missed on enough of them, end it).

    stage = ZoneStage(ZonesStageConfig(lines=[{"name": "door", "start": [640, 0], "end": [640, 720]}]),
                      StageContext("gate"))
    output = stage.process(result)  # StageOutput(result, records=(Event(...), ...))
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from vigil.catalog import CATALOG
from vigil.config.zones import ZonesStageConfig
from vigil.engine import ClassificationPrediction, Detections
from vigil.errors import MissingDependencyError
from vigil.events import Event
from vigil.result import InferenceResult, Overlay
from vigil.stages._geometry import FrameGeometry, Shapes
from vigil.stages._speed import SpeedMeter
from vigil.stages.base import Stage, StageContext, StageOutput
from vigil.stages.rules import EventRule, FrameView, Moment, RuleContext, TrackedObject, make_rules

__all__ = ["ZoneStage"]

log = logging.getLogger(__name__)


class ZoneStage(Stage):
    """Object, zone and line events of one tracked source (see the module's docstring). It keeps
    the tracked objects (`tracks`) and the time a gate skipped; its rules make the events; it
    holds an object's events until the object has started, and sorts each frame's."""

    def __init__(self, config: ZonesStageConfig, context: StageContext) -> None:
        _require_supervision()
        self.config = config
        self.source = context.source
        self.geometry = FrameGeometry(config, context.source)
        self.clips = context.clips  # event clips: opened at object_start, closed at its end
        self.rules: list[tuple[str, EventRule]] = make_rules(RuleContext(config, context.source, context.clips))
        self.tracks: dict[int, TrackedObject] = {}
        self.speed = SpeedMeter(config.speed) if config.speed is not None else None  # speed_kmh (vigil.stages._speed)
        self._pending: dict[int, list[Event]] = {}  # the events of objects not started yet
        self._warned_no_ids = False
        self._gated_s = 0.0  # time a gate skipped, so far
        self._last_t: float | None = None  # the last frame's capture time

    def process(self, result: InferenceResult) -> StageOutput:
        frame = result.frame
        now = self._moment(frame)
        height, width = frame.image.shape[:2]
        shapes = self.geometry.at(width, height)
        events: list[Event] = []
        dets = result.detections
        ids = dets.tracker_id if isinstance(dets, Detections) else None  # text lines are not objects
        if ids is None and not isinstance(dets, ClassificationPrediction) and len(dets) and not self._warned_no_ids:
            self._warned_no_ids = True
            log.warning(
                "source '%s': the zones stage sees detections without tracker ids; put a tracking "
                "stage before it (they are ignored)",
                self.source,
            )
        if ids is not None and isinstance(dets, Detections) and len(dets):
            tracked = np.flatnonzero(ids >= 0)
            if len(tracked):
                view = self._view(dets, ids[tracked], tracked, now, shapes)
                if self.speed is not None:
                    self.speed.measure(view)
                    result = replace(result, detections=_with_speeds(dets, tracked, view))
                self._observe(view, events)
        self._end_lost(now, events)
        _sort(events)
        return StageOutput(replace(result, overlays=self._overlays(shapes, events)), tuple(events))

    def _moment(self, frame: Any) -> Moment:
        """`frame`'s moment; a gap a gate made before it is added to the gated time, less one
        frame's share of it (the time an object unseen in this frame counts)."""
        t = frame.capture_time.timestamp()
        if frame.skipped_before and self._last_t is not None and t > self._last_t:
            self._gated_s += (t - self._last_t) * frame.skipped_before / (frame.skipped_before + 1)
        self._last_t = t
        return Moment(t, frame.seq, frame, gated_s=self._gated_s)

    def _view(self, dets: Detections, ids: np.ndarray, rows: np.ndarray, now: Moment, shapes: Shapes) -> FrameView:
        """The objects seen in this frame, their sightings recorded (box, class vote, confidence)."""
        xyxy = dets.xyxy[rows]
        names = dets.class_name
        attached = dets.data.get("attached")
        objects = []
        for k, (tracker_id, row) in enumerate(zip(ids.tolist(), rows.tolist())):
            x1, y1, x2, y2 = xyxy[k].tolist()
            seen = Moment(now.t, now.seq, now.frame, (x1, y1, x2, y2), now.gated_s)
            obj = self.tracks.get(tracker_id)
            if obj is None:
                obj = self.tracks[tracker_id] = TrackedObject(tracker_id, seen, seen)
            obj.last = seen
            class_id = int(dets.class_id[row])
            obj.votes[class_id] += 1
            obj.names[class_id] = None if names is None else str(names[row])
            if attached is not None and attached[row]:
                obj.attached = attached[row]
            confidence = float(dets.confidence[row])
            if obj.best is None or confidence > obj.best_confidence:
                obj.best_confidence, obj.best = confidence, seen
            objects.append(obj)
        return FrameView(now, shapes, objects, xyxy)

    def _observe(self, view: FrameView, events: list[Event]) -> None:
        """Each rule's events of this frame, sent per object in detection order (an object's
        rules in their order); held while the object has not started."""
        made: dict[int, list[Event]] = {}
        for _, rule in self.rules:
            for event in rule.observe(view):
                made.setdefault(event.tracker_id, []).append(event)
        for obj in view.objects:
            out = made.pop(obj.tracker_id, [])
            if not obj.started:
                self._pending.setdefault(obj.tracker_id, []).extend(out)
                continue
            held = self._pending.pop(obj.tracker_id, [])
            events.extend(replace(e, clip=obj.clip) for e in held)  # made before the clip was
            events.extend(out)

    def _overlays(self, shapes: Shapes, events: list[Event]) -> tuple[Overlay, ...]:
        """The zones and lines for the sinks that draw, as the rules draw them."""
        return tuple(overlay for _, rule in self.rules for overlay in rule.overlays(shapes, events))

    def close(self) -> tuple[object, ...]:
        """The source ended: every object still tracked ends (zone_exit, object_end) as if lost."""
        events: list[Event] = []
        for tracker_id in list(self.tracks):
            self._end(tracker_id, events)
        for _, rule in self.rules:
            rule.close()
        _sort(events)
        return tuple(events)

    def _end_lost(self, now: Moment, events: list[Event]) -> None:
        # abs(): a capture clock that jumped back (a camera reconnected) ends the tracks it left behind.
        lost = [
            tid
            for tid, obj in self.tracks.items()
            if abs(now.t - obj.last.t) - (now.gated_s - obj.last.gated_s) >= self.config.lost_s
        ]
        for tracker_id in lost:
            self._end(tracker_id, events)

    def _end(self, tracker_id: int, events: list[Event]) -> None:
        obj = self.tracks.pop(tracker_id)
        if self.speed is not None:
            self.speed.forget(tracker_id)
        self._pending.pop(tracker_id, None)  # flicker: an object never started leaves no trace
        ended = [event for _, rule in self.rules for event in rule.end(obj)]
        if obj.started:
            events.extend(ended)


def _with_speeds(dets: Detections, rows: np.ndarray, view: FrameView) -> Detections:
    """`dets` with `data["speed_kmh"]`: each tracked object's speed (NaN: none yet, or not tracked)."""
    speeds = np.full(len(dets), np.nan)
    speeds[rows] = [np.nan if obj.speed.kmh is None else obj.speed.kmh for obj in view.objects]
    return replace(dets, data={**dets.data, "speed_kmh": speeds})


def _sort(events: list[Event]) -> None:
    """A frame's events in capture-time order, then by type (object_start first, object_end last)."""
    events.sort(key=lambda e: (e.capture_time, e.seq, CATALOG.event_types.sort_order(e.type)))


def _require_supervision() -> Any:
    try:
        import supervision
    except ImportError as exc:
        raise MissingDependencyError("the zones stage needs supervision: pip install 'vigil-analytics[supervision]'") from exc
    return supervision
