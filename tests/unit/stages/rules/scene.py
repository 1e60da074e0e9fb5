"""A rule's world without the stage: frames at known capture times, tracked objects moved by
hand (each a box whose bottom centre is the given point), and a `FrameView` of each frame."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from vigil import Frame
from vigil.config.zones import ZonesStageConfig
from vigil.events import Event
from vigil.stages._geometry import FrameGeometry
from vigil.stages.rules import EventRule, FrameView, Moment, RuleContext, TrackedObject

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
FPS = 10.0
IMAGE = np.zeros((480, 640, 3), np.uint8)
NAMES = ["person", "car"]
ZONE = {"name": "yard", "polygon": [[100, 100], [400, 100], [400, 400], [100, 400]]}
LINE = {"name": "door", "start": [320, 0], "end": [320, 480]}  # left to right is `in`


def at(seq: int) -> datetime:
    return T0 + timedelta(seconds=seq / FPS)


def utc(seq: int) -> str:
    return at(seq).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Scene:
    """One source's frames for a rule: `view(seq, {tracker_id: (x, y) or (x, y, class_id)})`."""

    def __init__(self, clips: Any = None, **config: Any) -> None:
        self.config = ZonesStageConfig.model_validate(config)
        self.context = RuleContext(self.config, "cam", clips)
        self.geometry = FrameGeometry(self.config, "cam")
        self.objects: dict[int, TrackedObject] = {}

    def view(self, seq: int, where: dict[int, tuple[float, ...]], confidence: float = 0.5) -> FrameView:
        frame = Frame("cam", seq, seq / FPS, at(seq), IMAGE)
        now = Moment(seq / FPS, seq, frame)
        boxes, seen = [], []
        for tracker_id, (x, y, *rest) in where.items():
            box = (x - 10.0, y - 20.0, x + 10.0, y)
            sighting = Moment(now.t, seq, frame, box)
            obj = self.objects.setdefault(tracker_id, TrackedObject(tracker_id, sighting, sighting))
            obj.last = sighting
            class_id = int(rest[0]) if rest else 0
            obj.votes[class_id] += 1
            obj.names[class_id] = NAMES[class_id]
            if obj.best is None or confidence > obj.best_confidence:
                obj.best_confidence, obj.best = confidence, sighting
            boxes.append(box)
            seen.append(obj)
        return FrameView(now, self.geometry.at(640, 480), seen, np.array(boxes, np.float32).reshape(-1, 4))

    def run(self, rule: EventRule, frames: list[dict[int, tuple[float, ...]]], start: int = 0) -> list[Event]:
        """The events of `frames` (seq `start` on), every object taken as started."""
        events: list[Event] = []
        for seq, where in enumerate(frames, start):
            view = self.view(seq, where)
            for obj in view.objects:
                obj.started = True
            events += rule.observe(view)
        return events


def walk(xs: list[float], y: float = 300, tracker_id: int = 1) -> list[dict[int, tuple[float, ...]]]:
    return [{tracker_id: (x, y)} for x in xs]
