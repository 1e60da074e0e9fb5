"""Speed on the ground: a camera's `speed:` calibration (vigil.config.speed) maps each tracked
object's anchor through a homography to metres, and its speed is the least-squares fit of those
positions against capture time over the last `window_s` seconds (a straight-line motion fits
exactly; a box's jitter is averaged out over the window). An object has a speed once its
positions span three quarters of the window (a pixel of jitter over a shorter span is a large
error far from the camera); before that, and after a gap longer than the window, none.

    meter = SpeedMeter(SpeedConfig(image=..., world=...))
    meter.measure(view)  # each object's `speed` (vigil.stages.rules.base.Speed) updated
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from vigil.config.homography import homography, to_plane
from vigil.config.speed import SpeedConfig
from vigil.stages.rules.base import FrameView

__all__ = ["SpeedMeter", "fitted_speed"]

_MAX_POSITIONS = 512  # per object: a window at 500 fps
MIN_SPAN = 0.75  # of the window: the span of positions an object needs to have a speed


class SpeedMeter:
    """The speeds of one source's objects (see the module's docstring)."""

    def __init__(self, config: SpeedConfig) -> None:
        self.config = config
        self.window_s = config.window_s
        self.positions: dict[int, deque[tuple[float, float, float]]] = {}  # by tracker id: (t, x m, y m)
        self._matrices: dict[tuple[int, int], np.ndarray] = {}

    def matrix(self, width: int, height: int) -> np.ndarray:
        """The homography for frames of this size (normalized image points scaled to it)."""
        found = self._matrices.get((width, height))
        if found is None:
            image = np.asarray(self.config.image, np.float64)
            if self.config.normalized:
                image = image * (width, height)
            found = self._matrices[(width, height)] = homography(image.tolist(), self.config.world)
        return found

    def measure(self, view: FrameView) -> None:
        """Record where each object of `view` is on the ground and update its speed."""
        if not view.objects:
            return
        height, width = view.now.frame.image.shape[:2]
        ground = to_plane(self.matrix(width, height), view.anchors())
        t = view.now.t
        for obj, (x, y) in zip(view.objects, ground.tolist()):
            positions = self.positions.setdefault(obj.tracker_id, deque(maxlen=_MAX_POSITIONS))
            if positions and t <= positions[-1][0]:
                positions.clear()  # the capture clock went back (a camera reconnected): start again
            positions.append((t, x, y))
            while t - positions[0][0] > self.window_s:
                positions.popleft()
            obj.speed.add(fitted_speed(positions, self.window_s))

    def forget(self, tracker_id: int) -> None:
        self.positions.pop(tracker_id, None)


def fitted_speed(positions: Sequence[tuple[float, float, float]], window_s: float) -> float | None:
    """km/h from `(t, x, y)` positions (metres, seconds): the slope of a least-squares line through
    x(t) and through y(t); None while they span less than `MIN_SPAN` of `window_s`."""
    if len(positions) < 2 or positions[-1][0] - positions[0][0] < MIN_SPAN * window_s - 1e-9:
        return None
    data = np.asarray(positions, np.float64)
    t = data[:, 0] - data[:, 0].mean()
    velocity = t @ (data[:, 1:] - data[:, 1:].mean(axis=0)) / (t @ t)
    return float(np.hypot(*velocity) * 3.6)
