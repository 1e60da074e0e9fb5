"""Snapshots: a JPEG of a frame with detections, and its JSON record beside it; for events, the
event's frame with its object's box drawn, the object cropped, and the event's record.

Layout and naming: docs/OUTPUT.md ("Snapshots"). Which frames and events are kept is decided on
the event loop (cheap); drawing, JPEG encoding and writing run on the sink's own thread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vigil.catalog import CATALOG
from vigil.engine import ClassificationPrediction
from vigil.errors import ConfigError, SinkError
from vigil.events import Event
from vigil.frame import Frame
from vigil.result import InferenceResult
from vigil.sinks._threaded import PictureSink
from vigil.sinks.files import make_directory, source_folder, utc_stamp, write_atomic
from vigil.sinks.records import result_to_record

if TYPE_CHECKING:
    from vigil.config.sinks import SnapshotSinkConfig
    from vigil.sinks.registry import SinkContext

__all__ = ["CROP_MARGIN", "SnapshotSink", "crop_box", "event_label", "make_snapshot_sink"]

CROP_MARGIN = 0.1  # an event's crop: its box grown by this fraction of the box's size on each side


class SnapshotSink(PictureSink):
    """Saves `{directory}/{source}/{source}_{UTC capture time}.jpg` and `.json` for frames with
    at least one detection, at most one per source every `interval_s` seconds of capture time.

        sink = SnapshotSink("/var/lib/vigil/snapshots", interval_s=30)

    A `filter:` of its `sinks:` entry applies before (in the fanout): only the detections it
    keeps reach the sink, so only they count, are drawn and are recorded.

    Events (`records: [events]`) of the types in `event_types` (None: every type) are each
    saved, with no interval, as `{directory}/{source}/events/{event_id}.jpg` (the event's frame
    with its object's box and a label drawn), `{event_id}-crop.jpg` (the box grown by
    `CROP_MARGIN` on each side, cut from the undrawn frame) and `{event_id}.json` (its record),
    the JSON last. An event without a frame gets its JSON only; one without a box, no crop.

    Counters: `written` (snapshots and events saved), `dropped` (chosen frames and events lost
    to a full queue; for results, the next frame with detections is taken instead).
    """

    kind = "snapshot"

    def __init__(
        self,
        directory: str | Path,
        *,
        interval_s: float = 10.0,
        annotate: bool = True,
        jpeg_quality: int = 90,
        queue_size: int = 16,  # an object's events, or several objects', often come in a burst
        event_types: Iterable[str] | None = None,
        name: str = "snapshot",
    ) -> None:
        super().__init__(name, directory, annotate, queue_size)
        if not 0 <= interval_s <= 86_400:
            raise ConfigError(f"sink '{self.name}': interval_s must be between 0 and 86400, got {interval_s}")
        if not 0 <= jpeg_quality <= 100:
            raise ConfigError(f"sink '{self.name}': jpeg_quality must be between 0 and 100, got {jpeg_quality}")
        self.interval_s = interval_s
        self.event_types = None if event_types is None else frozenset(event_types)
        unknown = sorted((self.event_types or frozenset()) - set(CATALOG.event_types.names()))
        if unknown:
            raise ConfigError(
                f"sink '{self.name}': event_types has unknown type(s) {', '.join(unknown)}; "
                f"known: {', '.join(CATALOG.event_types.names())}"
            )
        self._jpeg_quality = jpeg_quality
        self._last_taken: dict[str, datetime] = {}  # capture time of each source's last snapshot

    async def publish(self, result: InferenceResult) -> None:
        self._ensure_running()
        dets = result.detections
        if (not isinstance(dets, ClassificationPrediction) and len(dets) == 0) or not self._due(result.frame):
            return
        if self._offer(result):
            self._last_taken[result.frame.source_id] = result.frame.capture_time

    async def publish_event(self, event: Event) -> None:
        self._ensure_running()
        if self.event_types is None or event.type in self.event_types:
            self._offer(event)

    def _due(self, frame: Frame) -> bool:
        last = self._last_taken.get(frame.source_id)
        # A clock that jumped back (a camera reconnected) ends the interval instead of extending it.
        return last is None or not 0 <= (frame.capture_time - last).total_seconds() < self.interval_s

    # -- the writer thread --------------------------------------------------------------------

    def _write(self, result: InferenceResult) -> None:
        frame = result.frame
        jpeg = self._jpeg(self._picture(result), f"frame {frame.source_id}#{frame.seq}")
        folder, name = source_folder(self.directory, frame.source_id, self.name)
        stem = f"{name}_{utc_stamp(frame.capture_time, milliseconds=True)}"
        record = json.dumps(result_to_record(result), separators=(",", ":")) + "\n"
        # The sidecar last: whoever sees a .json can read its .jpg.
        write_atomic(folder / f"{stem}.jpg", jpeg, self.name)
        write_atomic(folder / f"{stem}.json", record.encode(), self.name)
        self.written += 1

    def _write_event(self, event: Event) -> None:
        source_dir, _ = source_folder(self.directory, event.source, self.name)
        folder = source_dir / "events"
        make_directory(folder, self.name)
        stem = event.event_id
        if event.frame is not None:
            what = f"the frame of event {stem}"
            write_atomic(folder / f"{stem}.jpg", self._jpeg(self._event_picture(event, event.frame), what), self.name)
            crop = crop_box(event.frame.image, event.box) if event.box is not None else None
            if crop is not None:
                write_atomic(folder / f"{stem}-crop.jpg", self._jpeg(crop, f"the crop of event {stem}"), self.name)
        record = json.dumps(event.to_record(), separators=(",", ":")) + "\n"
        write_atomic(folder / f"{stem}.json", record.encode(), self.name)  # last, as for results
        self.written += 1

    def _event_picture(self, event: Event, frame: Frame) -> np.ndarray:
        if self._annotator is None or event.box is None:
            return frame.image
        return self._annotator.draw_box(frame.image, event.box, event.class_id, event_label(event))

    def _jpeg(self, image: np.ndarray, what: str) -> bytes:
        ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, self._jpeg_quality])
        if not ok:
            raise SinkError(f"sink '{self.name}': OpenCV could not encode {what} as JPEG")
        return bytes(jpeg.tobytes())

    def _finish(self) -> None:
        """Nothing stays open between snapshots."""


def event_label(event: Event) -> str:
    """What an event's box is labelled with: `person #7`, `person #7 zone yard`,
    `person #7 line door in` (class name, or id without one; tracker id; zone or line)."""
    name = event.class_name if event.class_name is not None else str(event.class_id)
    label = f"{name} #{event.tracker_id}"
    if event.zone is not None:
        label += f" zone {event.zone}"
    if event.line is not None:
        label += f" line {event.line}" + (f" {event.direction}" if event.direction else "")
    return label


def crop_box(image: np.ndarray, box: tuple[float, float, float, float], margin: float = CROP_MARGIN) -> np.ndarray | None:
    """The part of `image` under `box` (xyxy) grown by `margin` of the box's width and height on
    each side, out to whole pixels and clipped to the image; None when nothing of it is inside.

        crop_box(image, (100, 50, 200, 250))  # image[30:270, 90:210]
    """
    x1, y1, x2, y2 = box
    grow_x, grow_y = (x2 - x1) * margin, (y2 - y1) * margin
    height, width = image.shape[:2]
    left, top = max(0, math.floor(x1 - grow_x)), max(0, math.floor(y1 - grow_y))
    right, bottom = min(width, math.ceil(x2 + grow_x)), min(height, math.ceil(y2 + grow_y))
    if right <= left or bottom <= top:
        return None
    return image[top:bottom, left:right]


def make_snapshot_sink(config: SnapshotSinkConfig, context: SinkContext) -> SnapshotSink:
    """The registry's factory for `kind: snapshot`."""
    return SnapshotSink(config.directory, interval_s=config.interval_s, event_types=config.event_types, name=context.name)
