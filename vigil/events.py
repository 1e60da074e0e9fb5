"""`Event`: what happened to an object over time, the record type stages add beside results.

Stages (`vigil.stages`) emit events in their `StageOutput.records`; sinks that take events
publish them (docs/OUTPUT.md, "Events", schema version 1). An event names its source, the
object's track, what happened (`type`) and where (`zone` or `line`), at the capture time and
sequence number of the frame that made it happen.

    Event(type="line_cross", source="gate", tracker_id=7, class_name="person", class_id=0,
          capture_time=..., seq=412, line="door", direction="in")
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from vigil.frame import Frame

__all__ = ["EVENT_SCHEMA_VERSION", "Event", "EventType"]

EVENT_SCHEMA_VERSION = 1
_NAMESPACE = uuid.UUID("5d0c7c1e-4b7a-4f0e-9a59-7a1d6c0e2f31")  # vigil events

EventType = Literal["object_start", "object_end", "zone_enter", "zone_exit", "dwell", "line_cross"]


@dataclass(frozen=True, slots=True)
class Event:
    """One event. `zone` is set for zone events, `line` and `direction` (`in` / `out`, as
    supervision's `LineZone` counts them) for line crossings; `box` is the object's box in
    `frame`, the frame the event is about (the capture time and seq are that frame's, except
    for `object_end`, whose frame is the object's best one: `extra["best"]` says which); `clip`
    the object's clip when the source records them; `extra` holds type-specific values (an
    object's `first_seen` / `last_seen`, a dwell's seconds) as JSON-ready values."""

    type: EventType
    source: str
    tracker_id: int
    class_name: str | None
    class_id: int
    capture_time: datetime
    seq: int
    confidence: float | None = None
    zone: str | None = None
    line: str | None = None
    direction: Literal["in", "out"] | None = None
    box: tuple[float, float, float, float] | None = None  # the object's xyxy box in `frame`
    clip: str | None = None  # the path of the object's clip (vigil.clips), written once it ends
    extra: dict[str, Any] = field(default_factory=dict)
    # The frame the event is about (for object_end: the object's best frame), for sinks that
    # draw it (snapshots); never written into the record.
    frame: Frame | None = field(default=None, compare=False, repr=False)

    @property
    def event_id(self) -> str:
        """A UUID named by what the event is (source, frame, type, track, zone or line): the
        same event made again after a restart has the same id, so receivers deduplicate on it."""
        where = self.zone or self.line or ""
        return str(uuid.uuid5(_NAMESPACE, f"{self.source}\n{self.seq}\n{self.type}\n{self.tracker_id}\n{where}"))

    def to_record(self) -> dict[str, Any]:
        """The event as its JSON record (docs/OUTPUT.md)."""
        record: dict[str, Any] = {  # the id first, then the record type: the webhook's spool relies on it
            "id": self.event_id,
            "record": "event",
            "schema": EVENT_SCHEMA_VERSION,
            "type": self.type,
            "source": self.source,
            "seq": self.seq,
            "capture_time": self.capture_time.isoformat(timespec="microseconds").replace("+00:00", "Z"),  # as results
            "tracker_id": self.tracker_id,
            "class_id": self.class_id,
            "class_name": self.class_name,
        }
        if self.confidence is not None:
            record["confidence"] = round(float(self.confidence), 4)
        for key in ("zone", "line", "direction"):
            value = getattr(self, key)
            if value is not None:
                record[key] = value
        if self.box is not None:
            record["box"] = [round(float(v), 2) for v in self.box]
        if self.clip is not None:
            record["clip"] = self.clip
        record.update(self.extra)
        return record
