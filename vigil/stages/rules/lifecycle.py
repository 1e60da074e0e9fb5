"""Object lifecycle: `object_start` once a track has been seen for `min_seen_s` (its clip opens
then, when the source records clips), `object_end` when it ends (its clip closes), carrying its
first and last sightings and its best one."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from vigil.events import Event
from vigil.stages.rules.base import EventRule, FrameView, RuleContext, TrackedObject, iso

__all__ = ["CLIPS_FLUSH_S", "LifecycleRule"]

log = logging.getLogger(__name__)
CLIPS_FLUSH_S = 10.0  # at the source's end, how long to wait for its clips to be written


class LifecycleRule(EventRule):
    """Starts and ends objects (see the module's docstring). Every zones stage has it, first:
    the other rules' events of an object are held until it has started."""

    def __init__(self, context: RuleContext) -> None:
        self.context = context
        self.min_seen_s = context.config.min_seen_s

    @classmethod
    def make(cls, context: RuleContext) -> LifecycleRule:
        return cls(context)

    def observe(self, view: FrameView) -> list[Event]:
        events = []
        clips = self.context.clips
        for obj in view.objects:
            if not obj.started and obj.last.t - obj.first.t >= self.min_seen_s:
                obj.started = True
                if clips is not None:
                    first = obj.first.frame
                    obj.clip = clips.open(obj.tracker_id, start_pts=first.pts, start_time=first.capture_time)
                events.append(
                    self.context.event("object_start", obj, obj.first, first_seen=iso(obj.first), **_clip_input(clips, obj))
                )
        return events

    def end(self, obj: TrackedObject) -> list[Event]:
        if not obj.started:
            return []
        clips = self.context.clips
        if obj.clip is not None and clips is not None:
            clips.close(obj.tracker_id, end_pts=obj.last.frame.pts, end_time=obj.last.frame.capture_time)
        best = obj.best or obj.last
        end = self.context.event(
            "object_end",
            obj,
            obj.last,
            first_seen=iso(obj.first),
            last_seen=iso(obj.last),
            duration_s=round(obj.last.t - obj.first.t, 3),
            best={"seq": best.seq, "capture_time": iso(best), "confidence": round(obj.best_confidence, 4)},
            **_clip_input(clips, obj),
            **_speeds(obj),
        )
        return [replace(end, frame=best.frame, box=best.box)]

    def close(self) -> None:
        clips = self.context.clips
        if clips is not None and not clips.flush(CLIPS_FLUSH_S):
            log.warning("source '%s': clips still being written after %.0fs", self.context.source, CLIPS_FLUSH_S)


def _clip_input(clips: Any, obj: TrackedObject) -> dict[str, Any]:
    """`clip_input`: which input of the camera the object's clip is cut from (`inputs:`), when it has one."""
    origin = getattr(clips, "origin", None)
    return {"clip_input": dict(origin)} if obj.clip and origin else {}


def _speeds(obj: TrackedObject) -> dict[str, Any]:
    """`speed_kmh_max`, `speed_kmh_mean`: of its smoothed speeds, when any was measured."""
    speed = obj.speed
    if not speed.measured:
        return {}
    return {"speed_kmh_max": round(speed.max_kmh, 2), "speed_kmh_mean": round(speed.total_kmh / speed.measured, 2)}
