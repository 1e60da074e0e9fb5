"""Scripted tracks for line counting and speed tests: frames at 10 fps of boxes whose bottom
centre is a given point (40 px wide, 80 px tall unless said), through the real `zones` stage,
optionally behind the real `tracking` stage (ByteTrack) fed the same boxes without ids; `looks`
gives tracks an embedding, as a cascade of an embedding model attaches one (`look`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from vigil import Frame
from vigil.config.zones import ZonesStageConfig
from vigil.engine import Detections, attach
from vigil.engine.cascade import embedding
from vigil.events import Event
from vigil.result import InferenceResult, Timings
from vigil.stages.base import StageContext
from vigil.stages.zones import ZoneStage

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)
FPS = 10.0
IMAGE = np.zeros((480, 640, 3), np.uint8)
LINE = {"name": "door", "start": [320, 0], "end": [320, 480]}  # left to right is `in`
# One object in a frame: (tracker_id, (x, y) of its bottom centre[, box height]).
Obj = tuple[Any, ...]


def detections(
    objects: Sequence[Obj], tracked: bool = True, width: float = 40.0, looks: Mapping[int, Sequence[float]] | None = None
) -> Detections:
    boxes = []
    for _, (x, y), *rest in objects:
        height = rest[0] if rest else 80.0
        boxes.append([x - width / 2, y - height, x + width / 2, y])
    dets = Detections(
        xyxy=np.array(boxes, np.float32).reshape(len(objects), 4),
        confidence=np.full(len(objects), 0.9, np.float32),
        class_id=np.zeros(len(objects), np.int64),
        data={"class_name": np.array(["person"] * len(objects), dtype=str)},
        tracker_id=np.array([o[0] for o in objects], np.int64) if tracked else None,
    )
    seen = [k for k, o in enumerate(objects) if looks and o[0] in looks]
    if looks and seen:
        attach(dets, "look", seen, [embedding("look", np.asarray(looks[objects[k][0]], np.float32)) for k in seen])
    return dets


def result(seq: int, dets: Detections, fps: float = FPS) -> InferenceResult:
    frame = Frame("cam", seq, seq / fps, T0 + timedelta(seconds=seq / fps), IMAGE)
    return InferenceResult(frame, "m", dets, Timings(0, 0, 0, 0, 0))


def zone_stage(**config: Any) -> ZoneStage:
    return ZoneStage(ZonesStageConfig.model_validate(config), StageContext("cam"))


def run(
    stage: ZoneStage, frames: Sequence[Sequence[Obj]], fps: float = FPS, looks: Mapping[int, Sequence[float]] | None = None
) -> tuple[list[Event], list[InferenceResult]]:
    """The events of `frames` (and of the stage's close), and the results it passed on; `looks`:
    an embedding per tracker id, attached to that track's detections."""
    events: list[Event] = []
    results = []
    for seq, objects in enumerate(frames):
        out = stage.process(result(seq, detections(objects, looks=looks), fps))
        events += [e for e in out.records if isinstance(e, Event)]
        results.append(out.result)
    events += [e for e in stage.close() if isinstance(e, Event)]
    return events, results


def crossings(events: Sequence[Event]) -> list[tuple[int, str, bool, Any]]:
    """(tracker_id, direction, relinked, relinked_from) of each line_cross."""
    return [
        (e.tracker_id, str(e.direction), e.extra["relinked"], e.extra.get("relinked_from"))
        for e in events
        if e.type == "line_cross"
    ]


def walk(xs: Sequence[float], y: float = 300, tracker_id: int = 1) -> list[list[Obj]]:
    return [[(tracker_id, (x, y))] for x in xs]
