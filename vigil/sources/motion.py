"""The motion gate (`sources[].motion`): a frame where nothing moves skips inference.

A `FrameGate` (`vigil.sources.gate`), made per camera, run on its decode thread after `max_fps`
sampling. Each frame is measured on a small grey copy (`frame_width` wide, Gaussian-blurred)
against a running-average background (`cv2.accumulateWeighted`, time constant `background_s` of
stream time, so the rate does not change it):

- pixels that differ by more than `threshold` grey levels are changed, except under `masks`;
- when at least `lighting_fraction` of the unmasked frame changed at once (a light switched on),
  the background is re-seeded with this frame and the frame is not motion: the next ones are
  measured against the new light at once;
- otherwise the background is scaled by the ratio of the two mean brightnesses, so a smaller
  uniform change (auto exposure, a cloud) is not motion, and the changed pixels against it are
  dilated and grouped into connected regions; a region of at least `min_area` of the frame is
  motion.

The first frame (and the first after the stream's clock goes back: a loop, a reconnect) seeds
the background and is admitted. A frame is admitted when it has motion or when `keepalive_s` of
stream time have passed since the last admitted one, so objects standing still are still
detected that often; the rest are skipped as `"motion"` (`source.stats.skipped["motion"]`,
`vigil_source_frames_skipped_total{cause="motion"}`). A 1280x720 frame costs about 1 ms.

    gate = MotionGate(MotionConfig(enabled=True), "door")
    source = FileSource("door", "door.mp4", gates=[gate])
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vigil.config.motion import MotionConfig
from vigil.sources.gate import GateFrame

__all__ = ["MotionGate"]

REASON = "motion"
_BLUR = (5, 5)
_DILATE = np.ones((3, 3), np.uint8)


class MotionGate:
    """Admits the frames of one camera that have motion, and one every `keepalive_s` (see the
    module's docstring). `keepalives` and `relit` count the frames admitted without motion and
    the background re-seeds after a global light change."""

    def __init__(self, config: MotionConfig, source: str = "") -> None:
        self.config = config
        self.source = source
        self.keepalives = 0
        self.relit = 0
        self._background: np.ndarray | None = None  # float32, the small grey copy's shape
        self._keep: np.ndarray | None = None  # uint8: 255 where changes count, 0 under a mask
        self._keep_count = 0
        self._frame_size: tuple[int, int] | None = None  # (width, height) of the frames it was made for
        self._last_pts: float | None = None
        self._admitted_pts: float | None = None

    def admit(self, frame: GateFrame) -> str | None:
        """None when `frame` has motion or is due as a keepalive; `"motion"` to skip it."""
        small = self._small(frame)
        pts, last = frame.pts, self._last_pts
        self._last_pts = pts
        if self._background is None or last is None or pts < last:
            self._background = small.copy()  # the first frame seeds the background
        elif not self._moving(small, pts - last):
            if self._admitted_pts is not None and pts - self._admitted_pts < self.config.keepalive_s:
                return REASON
            self.keepalives += 1
        self._admitted_pts = pts
        return None

    def _small(self, frame: GateFrame) -> np.ndarray:
        """The frame as a small blurred grey float32 image (and the mask made for its size)."""
        height, width = frame.height, frame.width
        if self._frame_size != (width, height):
            self._frame_size, self._background = (width, height), None
            small_w = min(self.config.frame_width, width)
            small_h = max(1, round(height * small_w / width))
            self._keep = _keep_mask(self.config, (width, height), (small_w, small_h))
            self._keep_count = int(cv2.countNonZero(self._keep))
        assert self._keep is not None
        size = (self._keep.shape[1], self._keep.shape[0])
        # Grey first (a YUV picture's own luma plane: no colour conversion), then one small plane.
        small = cv2.resize(frame.grey(), size, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, _BLUR, 0).astype(np.float32)

    def _moving(self, small: np.ndarray, dt: float) -> bool:
        """Whether `small` has motion against the background; updates the background."""
        background, keep = self._background, self._keep
        assert background is not None and keep is not None
        if not self._keep_count:
            return False  # everything is masked
        if self._changed(small, background, keep)[1] >= self.config.lighting_fraction * self._keep_count:
            self._background = small.copy()  # a new light: measure against it from now on
            self.relit += 1
            return False
        mean_now, mean_then = cv2.mean(small, keep)[0], cv2.mean(background, keep)[0]
        reference = background * (mean_now / mean_then) if mean_then >= 1.0 else background
        changed, count = self._changed(small, reference, keep)
        alpha = 1.0 - math.exp(-max(dt, 1e-3) / self.config.background_s)
        cv2.accumulateWeighted(small, background, alpha)
        if not count:
            return False
        regions, _, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(changed, _DILATE), connectivity=8)
        smallest = self.config.min_area * changed.shape[0] * changed.shape[1]
        return bool(regions > 1 and stats[1:, cv2.CC_STAT_AREA].max() >= smallest)

    def _changed(self, small: np.ndarray, reference: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, int]:
        """The changed pixels (255) of `small` against `reference` outside the masks, and their count."""
        _, changed = cv2.threshold(cv2.absdiff(small, reference), self.config.threshold, 255, cv2.THRESH_BINARY)
        changed = cv2.bitwise_and(changed.astype(np.uint8), keep)
        return changed, int(cv2.countNonZero(changed))


def _keep_mask(config: MotionConfig, frame_size: tuple[int, int], small_size: tuple[int, int]) -> np.ndarray:
    """255 where changes count, 0 under the masks, at the small copy's size."""
    (width, height), (small_w, small_h) = frame_size, small_size
    keep = np.full((small_h, small_w), 255, np.uint8)
    for mask in config.masks:
        scale = (small_w, small_h) if mask.normalized else (small_w / width, small_h / height)
        corners = np.round(np.asarray(mask.polygon, np.float64) * scale).astype(np.int32)
        cv2.fillPoly(keep, [corners], 0)
    return keep
