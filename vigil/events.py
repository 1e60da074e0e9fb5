"""`Event`: what happened to an object over time, the record type stages add beside results.

Stages (`vigil.stages`) emit events in their `StageOutput.records`; sinks that take events
publish them (docs/OUTPUT.md, "Events", schema version 1). An event names its source, the
object's track, what happened (`type`) and where (`zone` or `line`), at the capture time and
sequence number of the frame that made it happen.

    Event(type="line_cross", source="gate", tracker_id=7, class_name="person", class_id=0,
          capture_time=..., seq=412, line="door", direction="in")

`type` is one of the event types the catalog declares (`CATALOG.event_types`: the built-in ones,
or one a rule's package declared): an undeclared one is a ValueError when the event is made.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from vigil.catalog import CATALOG

if TYPE_CHECKING:
    from vigil.frame import Frame

__all__ = ["EVENT_SCHEMA_VERSION", "Event", "new_record_id", "run_id"]

EVENT_SCHEMA_VERSION = 1
_PLACE_FIELDS = frozenset({"zone", "line", "direction"})  # the fields an event keeps as attributes
_run: uuid.UUID | None = None
_run_lock = threading.Lock()


def run_id() -> uuid.UUID:
    """A random UUID drawn once per process, at its first use (never at import): record ids
    derived from it differ between two runs of the same clip, whose frame numbers, track ids
    and zones all restart at 0."""
    global _run
    with _run_lock:  # spool threads of several sinks may ask first at the same time
        if _run is None:
            _run = uuid.uuid4()
        return _run


def new_record_id() -> str:
    """A new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Unique
    across processes and restarts, and ordered by creation time (to the millisecond)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10
    return str(uuid.UUID(int=value))


@dataclass(frozen=True, slots=True)
class Event:
    """One event. `zone` is set for zone events, `line` and `direction` (`in` / `out`, as
    supervision's `LineZone` counts them) for line crossings; `box` is the object's box in
    `frame`, the frame the event is about (the capture time and seq are that frame's, except
    for `object_end`, whose frame is the object's best one: `extra["best"]` says which); `clip`
    the object's clip when the source records them; `extra` holds type-specific values (an
    object's `first_seen` / `last_seen`, a dwell's seconds) as JSON-ready values. `id` is drawn
    when the event is made (a UUIDv7) and kept by copies (`dataclasses.replace`) and by its
    record wherever that is stored and sent again."""

    type: str  # a declared event type (CATALOG.event_types)
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
    # Never derived from what the event is (source, seq, track, zone): those restart at 0 with
    # the process, and a restarted daemon would reuse the last run's ids (JetStream's duplicate
    # window and receivers deduplicating on `id` would drop its events).
    id: str = field(default_factory=new_record_id, compare=False)

    def __post_init__(self) -> None:
        CATALOG.event_types.check(self.type)

    @property
    def event_id(self) -> str:
        """The event's id (`id`): the same for this event wherever it is published, and for its
        record sent again from a spool; never the same for two events, in any run."""
        return self.id

    def value_of(self, name: str) -> Any:
        """The value of its record's field `name` (one its type declares): `zone`, `line` or
        `direction`, else the value in `extra` (None when absent)."""
        return getattr(self, name) if name in _PLACE_FIELDS else self.extra.get(name)

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
