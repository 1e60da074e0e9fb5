"""Snapshots: a JPEG of a frame with detections, and its JSON record beside it.

Layout and naming: docs/OUTPUT.md ("Snapshots"). Which frames are kept is decided on the event
loop (cheap); drawing, JPEG encoding and writing run on the sink's own thread.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from vigil.errors import ConfigError, SinkError
from vigil.frame import Frame
from vigil.result import InferenceResult
from vigil.sinks._files import source_folder, utc_stamp, write_atomic
from vigil.sinks._threaded import PictureSink
from vigil.sinks.records import result_to_record

if TYPE_CHECKING:
    from vigil.config.sinks import SnapshotSinkConfig
    from vigil.sinks.registry import SinkContext

__all__ = ["SnapshotSink", "make_snapshot_sink"]


class SnapshotSink(PictureSink):
    """Saves `{directory}/{source}/{source}_{UTC capture time}.jpg` and `.json` for frames with
    at least one detection, at most one per source every `interval_s` seconds of capture time.

        sink = SnapshotSink("/var/lib/vigil/snapshots", interval_s=30)

    A `filter:` of its `sinks:` entry applies before (in the fanout): only the detections it
    keeps reach the sink, so only they count, are drawn and are recorded.
    Counters: `written` (snapshots saved), `dropped` (chosen frames lost to a full queue; the
    next frame with detections is taken instead).
    """

    kind = "snapshot"

    def __init__(
        self,
        directory: str | Path,
        *,
        interval_s: float = 10.0,
        annotate: bool = True,
        jpeg_quality: int = 90,
        queue_size: int = 4,
        name: str = "snapshot",
    ) -> None:
        super().__init__(name, directory, annotate, queue_size)
        if not 0 <= interval_s <= 86_400:
            raise ConfigError(f"sink '{self.name}': interval_s must be between 0 and 86400, got {interval_s}")
        if not 0 <= jpeg_quality <= 100:
            raise ConfigError(f"sink '{self.name}': jpeg_quality must be between 0 and 100, got {jpeg_quality}")
        self.interval_s = interval_s
        self._jpeg_quality = jpeg_quality
        self._last_taken: dict[str, datetime] = {}  # capture time of each source's last snapshot

    async def publish(self, result: InferenceResult) -> None:
        self._ensure_running()
        if len(result.detections) == 0 or not self._due(result.frame):
            return
        if self._offer(result):
            self._last_taken[result.frame.source_id] = result.frame.capture_time

    def _due(self, frame: Frame) -> bool:
        last = self._last_taken.get(frame.source_id)
        # A clock that jumped back (a camera reconnected) ends the interval instead of extending it.
        return last is None or not 0 <= (frame.capture_time - last).total_seconds() < self.interval_s

    # -- the writer thread --------------------------------------------------------------------

    def _write(self, result: InferenceResult) -> None:
        frame = result.frame
        image = self._picture(result)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._jpeg_quality])
        if not ok:
            raise SinkError(f"sink '{self.name}': OpenCV could not encode frame {frame.source_id}#{frame.seq} as JPEG")
        folder, name = source_folder(self.directory, frame.source_id, self.name)
        stem = f"{name}_{utc_stamp(frame.capture_time, milliseconds=True)}"
        record = json.dumps(result_to_record(result), separators=(",", ":")) + "\n"
        # The sidecar last: whoever sees a .json can read its .jpg.
        write_atomic(folder / f"{stem}.jpg", jpeg.tobytes(), self.name)
        write_atomic(folder / f"{stem}.json", record.encode(), self.name)
        self.written += 1

    def _finish(self) -> None:
        """Nothing stays open between snapshots."""


def make_snapshot_sink(config: SnapshotSinkConfig, context: SinkContext) -> SnapshotSink:
    """The registry's factory for `kind: snapshot`."""
    return SnapshotSink(config.directory, interval_s=config.interval_s, name=context.name)
