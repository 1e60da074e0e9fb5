"""The `zones` stage: events of a tracked source's objects (docs/OUTPUT.md, "Events").

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
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from vigil.config.zones import ZonesStageConfig
from vigil.engine import ClassificationPrediction, Detections
from vigil.errors import MissingDependencyError
from vigil.events import Event, EventType
from vigil.result import InferenceResult, Overlay
from vigil.stages._geometry import FrameGeometry, line_sides
from vigil.stages.base import Stage, StageContext, StageOutput

__all__ = ["ZoneStage"]

log = logging.getLogger(__name__)
CLIPS_FLUSH_S = 10.0  # at the source's end, how long to wait for its clips to be written
_RANK: dict[str, int] = {"object_start": 0, "zone_exit": 1, "line_cross": 2, "zone_enter": 3, "dwell": 4, "object_end": 5}


@dataclass(slots=True)
class _Moment:
    """A sighting of an object: when (capture time `t`, seq, the frame) and where (its box)."""

    t: float
    seq: int
    frame: Any  # the Frame: its capture_time, and its image for snapshots
    box: tuple[float, float, float, float] | None = None
    gated_s: float = 0.0  # the stage's total of time a gate skipped, at this moment


@dataclass(slots=True)
class _Debounced:
    """A boolean (inside a zone, which side of a line) that changes only once the new value
    has held for `min_seen_s`; `since` is the first frame of the value being confirmed."""

    value: bool | None = None
    since: _Moment | None = None
    candidate: bool | None = None
    candidate_since: _Moment | None = None

    def observe(self, value: bool, now: _Moment, hold_s: float) -> _Moment | None:
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
class _Track:
    first: _Moment
    last: _Moment
    votes: Counter[int] = field(default_factory=Counter)
    names: dict[int, str | None] = field(default_factory=dict)
    best_confidence: float = 0.0
    best: _Moment | None = None  # the sighting with the best confidence (object_end's frame)
    started: bool = False
    pending: list[Event] = field(default_factory=list)  # held until the object starts
    zones: dict[str, _Debounced] = field(default_factory=dict)
    dwelled: set[str] = field(default_factory=set)
    lines: dict[str, _Debounced] = field(default_factory=dict)
    clip: str | None = None  # the path of its clip, when the source records them
    attached: dict[str, Any] = field(default_factory=dict)  # the latest cascade outputs (vigil.stages.cascade)

    @property
    def class_id(self) -> int:
        return self.votes.most_common(1)[0][0]


class ZoneStage(Stage):
    """Object, zone and line events of one tracked source (see the module's docstring)."""

    def __init__(self, config: ZonesStageConfig, context: StageContext) -> None:
        _require_supervision()
        self.config = config
        self.source = context.source
        self.geometry = FrameGeometry(config, context.source)
        self.tracks: dict[int, _Track] = {}
        self._dwell = {zone.name: zone.dwell_s or config.dwell_s for zone in config.zones}
        self._warned_no_ids = False
        self.clips = context.clips  # event clips: opened at object_start, closed at its end
        self._crossed: dict[str, Counter[str]] = {line.name: Counter() for line in config.lines}  # in/out, drawn
        self._outlines: dict[tuple[int, int], tuple[Overlay, ...]] = {}  # per frame size
        self._gated_s = 0.0  # time a gate skipped, so far
        self._last_t: float | None = None  # the last frame's capture time

    def process(self, result: InferenceResult) -> StageOutput:
        frame = result.frame
        now = self._moment(frame)
        events: list[Event] = []
        dets = result.detections
        ids = dets.tracker_id if isinstance(dets, Detections) else None  # text lines are not objects
        if ids is None and not isinstance(dets, ClassificationPrediction) and len(dets) and not self._warned_no_ids:
            self._warned_no_ids = True
            log.warning("source '%s': the zones stage sees detections without tracker ids; put a tracking "
                        "stage before it (they are ignored)", self.source)
        if ids is not None and isinstance(dets, Detections) and len(dets):
            tracked = np.flatnonzero(ids >= 0)
            if len(tracked):
                self._observe(result.frame.image.shape, dets, ids[tracked], tracked, now, events)
        self._end_lost(now, events)
        events.sort(key=lambda e: (e.capture_time, e.seq, _RANK[e.type]))
        return StageOutput(replace(result, overlays=self._overlays(frame.image.shape, events)), tuple(events))

    def _moment(self, frame: Any) -> _Moment:
        """`frame`'s moment; a gap a gate made before it is added to the gated time, less one
        frame's share of it (the time an object unseen in this frame counts)."""
        t = frame.capture_time.timestamp()
        if frame.skipped_before and self._last_t is not None and t > self._last_t:
            self._gated_s += (t - self._last_t) * frame.skipped_before / (frame.skipped_before + 1)
        self._last_t = t
        return _Moment(t, frame.seq, frame, gated_s=self._gated_s)

    def _overlays(self, image_shape: tuple[int, ...], events: list[Event]) -> tuple[Overlay, ...]:
        """The zones and lines for the sinks that draw: outlines made once per frame size, texts
        (objects inside a zone now, a line's crossings in and out so far) counted per frame."""
        for event in events:
            if event.type == "line_cross" and event.line in self._crossed and event.direction is not None:
                self._crossed[event.line][event.direction] += 1
        height, width = image_shape[:2]
        outlines = self._outlines.get((width, height))
        if outlines is None:
            shapes = self.geometry.at(width, height)
            zones = [Overlay(z.name, "zone", tuple(map(tuple, z.polygon.tolist()))) for z in shapes.zones]
            lines = [Overlay(ln.name, "line", (tuple(ln.start.tolist()), tuple(ln.end.tolist()))) for ln in shapes.lines]
            outlines = self._outlines[(width, height)] = (*zones, *lines)
        inside = Counter(name for track in self.tracks.values() if track.started
                         for name, state in track.zones.items() if state.value)
        return tuple(replace(o, text=f"{inside[o.name]} inside") if o.kind == "zone" else
                     replace(o, text=f"in {self._crossed[o.name]['in']} out {self._crossed[o.name]['out']}")
                     for o in outlines)

    def _observe(self, image_shape: tuple[int, ...], dets: Detections, ids: np.ndarray, rows: np.ndarray,
                 now: _Moment, events: list[Event]) -> None:
        height, width = image_shape[:2]
        shapes = self.geometry.at(width, height)
        xyxy = dets.xyxy[rows]
        in_zones = {zone.name: zone.contains(xyxy) for zone in shapes.zones}
        anchors = shapes.anchors(xyxy) if shapes.lines else None
        sides = {line.name: line_sides(line, anchors) for line in shapes.lines if anchors is not None}
        names = dets.class_name
        for k, (tracker_id, row) in enumerate(zip(ids.tolist(), rows.tolist())):
            x1, y1, x2, y2 = xyxy[k].tolist()
            seen = _Moment(now.t, now.seq, now.frame, (x1, y1, x2, y2), now.gated_s)
            track = self.tracks.get(tracker_id)
            if track is None:
                track = self.tracks[tracker_id] = _Track(seen, seen)
            track.last = seen
            class_id = int(dets.class_id[row])
            track.votes[class_id] += 1
            track.names[class_id] = None if names is None else str(names[row])
            if "attached" in dets.data and dets.data["attached"][row]:
                track.attached = dets.data["attached"][row]
            confidence = float(dets.confidence[row])
            if track.best is None or confidence > track.best_confidence:
                track.best_confidence, track.best = confidence, seen
            out: list[Event] = []
            if not track.started and seen.t - track.first.t >= self.config.min_seen_s:
                track.started = True
                if self.clips is not None:
                    first = track.first.frame
                    track.clip = self.clips.open(tracker_id, start_pts=first.pts, start_time=first.capture_time)
                out.append(self._event("object_start", tracker_id, track, track.first,
                                       first_seen=_iso(track.first)))
            for zone in shapes.zones:
                inside = bool(in_zones[zone.name][k]) and _wanted(zone.config, track)
                self._zone(tracker_id, track, zone.name, inside, seen, out)
            for line in shapes.lines:
                in_limits, side = sides[line.name]
                if in_limits[k] and _wanted(line.config, track):
                    self._line(tracker_id, track, line.name, bool(side[k]), seen, out)
            if track.started:
                events.extend(replace(e, clip=track.clip) for e in track.pending)  # made before the clip was
                events.extend(out)
                track.pending.clear()
            else:
                track.pending.extend(out)

    def _zone(self, tracker_id: int, track: _Track, name: str, inside: bool, now: _Moment, out: list[Event]) -> None:
        state = track.zones.setdefault(name, _Debounced(value=False))
        changed = state.observe(inside, now, self.config.min_seen_s)
        if changed is not None:
            out.append(self._event("zone_enter" if inside else "zone_exit", tracker_id, track, changed, zone=name))
            track.dwelled.discard(name)
        dwell_s = self._dwell[name]
        # `inside`: not while an exit is being confirmed; the stay ended at the first frame outside
        if inside and state.value and dwell_s is not None and name not in track.dwelled and state.since is not None:
            stayed = now.t - state.since.t
            if stayed >= dwell_s:
                track.dwelled.add(name)
                out.append(self._event("dwell", tracker_id, track, now, zone=name, dwell_s=round(stayed, 3),
                                       entered_at=_iso(state.since)))

    def _line(self, tracker_id: int, track: _Track, name: str, side_in: bool, now: _Moment, out: list[Event]) -> None:
        state = track.lines.setdefault(name, _Debounced())
        changed = state.observe(side_in, now, self.config.min_seen_s)
        if changed is not None:
            out.append(self._event("line_cross", tracker_id, track, changed, line=name,
                                   direction="in" if side_in else "out"))

    def close(self) -> tuple[object, ...]:
        """The source ended: every object still tracked ends (zone_exit, object_end) as if lost."""
        events: list[Event] = []
        for tracker_id in list(self.tracks):
            self._end(tracker_id, events)
        if self.clips is not None and not self.clips.flush(CLIPS_FLUSH_S):
            log.warning("source '%s': clips still being written after %.0fs", self.source, CLIPS_FLUSH_S)
        events.sort(key=lambda e: (e.capture_time, e.seq, _RANK[e.type]))
        return tuple(events)

    def _end_lost(self, now: _Moment, events: list[Event]) -> None:
        # abs(): a capture clock that jumped back (a camera reconnected) ends the tracks it left behind.
        lost = [tid for tid, track in self.tracks.items()
                if abs(now.t - track.last.t) - (now.gated_s - track.last.gated_s) >= self.config.lost_s]
        for tracker_id in lost:
            self._end(tracker_id, events)

    def _end(self, tracker_id: int, events: list[Event]) -> None:
        track = self.tracks.pop(tracker_id)
        if not track.started:
            return  # flicker: it and its pending events leave no trace
        if track.clip is not None and self.clips is not None:
            self.clips.close(tracker_id, end_pts=track.last.frame.pts)
        for name, state in track.zones.items():
            if state.value:
                events.append(self._event("zone_exit", tracker_id, track, track.last, zone=name))
        best = track.best or track.last
        end = self._event(
            "object_end", tracker_id, track, track.last, first_seen=_iso(track.first),
            last_seen=_iso(track.last), duration_s=round(track.last.t - track.first.t, 3),
            best={"seq": best.seq, "capture_time": _iso(best), "confidence": round(track.best_confidence, 4)},
        )
        events.append(replace(end, frame=best.frame, box=best.box))

    def _event(self, type_: EventType, tracker_id: int, track: _Track, at: _Moment, *, zone: str | None = None,
               line: str | None = None, direction: Any = None, **extra: Any) -> Event:
        class_id = track.class_id
        return Event(
            type=type_, source=self.source, tracker_id=tracker_id, class_name=track.names.get(class_id),
            class_id=class_id, capture_time=at.frame.capture_time, seq=at.seq,
            confidence=track.best_confidence, zone=zone, line=line, direction=direction, box=at.box,
            extra={**extra, "attached": {n: a.to_json() for n, a in track.attached.items()}} if track.attached else extra,
            frame=at.frame, clip=track.clip,
        )


def _wanted(config: Any, track: _Track) -> bool:
    classes = config.classes
    if classes is None:
        return True
    class_id = track.class_id
    return class_id in classes or track.names.get(class_id) in classes


def _iso(moment: _Moment) -> str:
    """A capture time written as results and events write theirs (UTC, microseconds, `Z`)."""
    return moment.frame.capture_time.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _require_supervision() -> Any:
    try:
        import supervision
    except ImportError as exc:
        raise MissingDependencyError(
            "the zones stage needs supervision: pip install 'vigil-analytics[supervision]'"
        ) from exc
    return supervision

