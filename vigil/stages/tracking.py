"""The `tracking` stage: ByteTrack (Roboflow's `trackers`, the `tracking` extra) gives each
detection of a source a `tracker_id` that stays with the object from frame to frame.

    sources:
      - name: gate
        url: rtsp://cam/gate
        tracking: {lost_track_s: 2, classes: [person, car]}   # or stages: [{kind: tracking, ...}]

Frame rate rule: ByteTrack counts a lost track's grace in frames, so the stage turns
`lost_track_s` into frames with the rate this stage actually sees, measured from the PTS of the
results as they come (results over the time they span, across the last `_RATE_WINDOW` of them):
`max(1, ceil(lost_track_s * rate))`, 0 when `lost_track_s` is 0. That rate is after `max_fps`
sampling and after any frame a live source dropped, so the grace stays `lost_track_s` of
stream time whatever reaches the stage. Until two results have come, 30 fps is assumed. A PTS
that goes back (a file looping, a camera reconnecting) restarts the measurement, not the tracks.
Frames a motion gate skipped (`Frame.skipped_before`) count in the rate as if they had come: the
tracker sees every frame while something moves, and is not updated (so its tracks do not age)
while nothing does.

Classes not listed in `classes` are not shown to the tracker and pass on with tracker_id -1
(kept, so sinks and other stages still see them; a `filter` stage drops them if wanted).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace
from typing import Any

import numpy as np

from vigil.config.tracking import TrackingSettings
from vigil.engine import Detections
from vigil.errors import MissingDependencyError
from vigil.result import InferenceResult
from vigil.stages.base import Stage, StageContext

__all__ = ["MISSING_TRACKERS", "TrackingStage", "TrackingStageConfig", "lost_track_frames"]

MISSING_TRACKERS = (
    "the tracking stage needs Roboflow's trackers package: pip install ./packaging/opencv-alias "
    "'vigil-analytics[tracking]' (the alias first when opencv-python-headless is installed)"
)

_DEFAULT_RATE = 30.0
_RATE_WINDOW = 64  # results the rate is measured over: about 2 s at 30 fps, 13 s at 5 fps


class TrackingStageConfig(TrackingSettings):
    """`{kind: tracking, lost_track_s: ..., classes: [...], ...}` (same keys as `sources[].tracking`)."""


def lost_track_frames(lost_track_s: float, rate: float) -> int:
    """Frames of grace for a lost track at `rate` frames per second (the rule above)."""
    # rounded first: a rate measured from PTS is 30.0000001, and 0.5 s of it is still 15 frames
    return 0 if lost_track_s == 0 else max(1, math.ceil(round(lost_track_s * rate, 6)))


class TrackingStage(Stage):
    """One ByteTrack per source; sets `Detections.tracker_id` on every result (text results of an
    OCR model have no boxes to track and pass on unchanged)."""

    def __init__(self, config: TrackingSettings, context: StageContext) -> None:
        self.config = config
        self.source = context.source
        self._pts: deque[float] = deque(maxlen=_RATE_WINDOW)
        self._gated: deque[int] = deque(maxlen=_RATE_WINDOW)  # frames a gate skipped before each
        self.rate = _DEFAULT_RATE
        self.tracker = _bytetrack(config, lost_track_frames(config.lost_track_s, self.rate))

    def process(self, result: InferenceResult) -> InferenceResult:
        dets = result.detections
        if not isinstance(dets, Detections):
            return result
        self._measure(result.frame.pts, result.frame.skipped_before)
        self.tracker.maximum_frames_without_update = lost_track_frames(self.config.lost_track_s, self.rate)
        tracked = self._tracked(dets)
        ids = np.full(len(dets), -1, np.int64)
        ids[np.flatnonzero(tracked)] = self._update(dets[tracked])
        return replace(result, detections=replace(dets, tracker_id=ids))

    def _measure(self, pts: float, gated: int) -> None:
        if self._pts and pts <= self._pts[-1]:
            self._pts.clear()
            self._gated.clear()
        self._pts.append(pts)
        self._gated.append(gated)
        if len(self._pts) >= 2:  # the first one's gap lies before the window
            self.rate = (len(self._pts) - 1 + sum(self._gated) - self._gated[0]) / (self._pts[-1] - self._pts[0])

    def _tracked(self, dets: Detections) -> np.ndarray:
        classes = self.config.classes
        if classes is None:
            return np.ones(len(dets), bool)
        ids = [c for c in classes if isinstance(c, int)]
        names = [c for c in classes if isinstance(c, str)]
        class_names = dets.class_name if dets.class_name is not None else dets.class_id.astype(str)
        return np.isin(dets.class_id, ids) | np.isin(class_names.astype(str), names)

    def _update(self, dets: Detections) -> np.ndarray:
        """The tracker ids of `dets`, in their order (the tracker reorders what it returns)."""
        sv = _supervision()
        n = len(dets)
        out = self.tracker.update(
            sv.Detections(xyxy=dets.xyxy, confidence=dets.confidence, class_id=dets.class_id, data={"vigil_index": np.arange(n)})
        )
        ids = np.full(n, -1, np.int64)
        if len(out):
            ids[out.data["vigil_index"]] = out.tracker_id
        return ids


def _bytetrack(config: TrackingSettings, lost_frames: int) -> Any:
    try:
        from trackers import ByteTrackTracker
    except ImportError as exc:
        raise MissingDependencyError(MISSING_TRACKERS) from exc
    return ByteTrackTracker(
        lost_track_buffer=lost_frames,
        frame_rate=30.0,  # the buffer is already in frames of this source: no rescaling
        track_activation_threshold=config.track_activation_threshold,
        minimum_consecutive_frames=config.minimum_consecutive_frames,
        minimum_iou_threshold=config.minimum_iou_threshold,
        high_conf_det_threshold=config.high_confidence_threshold,
    )


def _supervision() -> Any:
    import supervision  # a dependency of trackers: present whenever the tracker is

    return supervision
