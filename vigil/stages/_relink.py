"""Re-linking lost tracks: where a track that vanished would be now (its last anchor moved on
at its recent velocity), and which new tracks continue which lost ones, by that prediction.

A tracker gives an object a new id when it loses it for longer than it keeps lost tracks, or
when the box that comes back does not overlap the predicted one (an occlusion, a burst of
missed detections, a fast object at a low frame rate). The lines rule (vigil.stages.rules.lines)
hands a lost track's side of a line to the new track that `pairs` matches it with, so a crossing
begun under one id and finished under another is counted once.

    trail = Trail(class_id=0); trail.add(10.0, 300.0, 400.0, 80.0)
    pairs([(5, (330.0, 400.0), 0)], {7: trail}, now=10.4, window_s=1.5, gate_px=None)  # [(5, 7)]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Trail", "pairs"]

VELOCITY_S = 1.0  # a trail's velocity: its motion over its last second of sightings
_KEPT = 32  # anchors kept per trail (a second at 30 fps)


@dataclass(slots=True)
class Trail:
    """A track's recent anchors `(t, x, y)` (pixels), its class and the larger side of its last box."""

    class_id: int
    points: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=_KEPT))
    size: float = 0.0

    def add(self, t: float, x: float, y: float, size: float) -> None:
        if self.points and t <= self.points[-1][0]:
            self.points.clear()  # the capture clock went back: the old motion says nothing
        self.points.append((t, x, y))
        self.size = size

    @property
    def last_t(self) -> float:
        return self.points[-1][0]

    def velocity(self) -> tuple[float, float]:
        """Pixels per second over the last `VELOCITY_S` of sightings ((0, 0) with one sighting)."""
        t1, x1, y1 = self.points[-1]
        t0, x0, y0 = next(p for p in self.points if t1 - p[0] <= VELOCITY_S)
        if t1 <= t0:
            return 0.0, 0.0
        return (x1 - x0) / (t1 - t0), (y1 - y0) / (t1 - t0)

    def predict(self, t: float) -> tuple[float, float]:
        """Where the track would be at `t`, had it kept its velocity."""
        last_t, x, y = self.points[-1]
        vx, vy = self.velocity()
        return x + vx * (t - last_t), y + vy * (t - last_t)


def pairs(
    new: Sequence[tuple[int, tuple[float, float], int]],
    lost: Mapping[int, Trail],
    now: float,
    window_s: float,
    gate_px: float | None,
) -> list[tuple[int, int]]:
    """(new key, lost id) pairs: each new track `(key, anchor, class_id)` with the lost track of its
    class, unseen for at most `window_s` (and not this instant), whose predicted anchor is nearest
    and within `gate_px` (None: the lost box's larger side); nearest pairs first, each track once."""
    found = []
    for key, (x, y), class_id in new:
        for lost_id, trail in lost.items():
            gap = now - trail.last_t
            if trail.class_id != class_id or not 0 < gap <= window_s:
                continue
            px, py = trail.predict(now)
            distance = ((px - x) ** 2 + (py - y) ** 2) ** 0.5
            if distance <= (trail.size if gate_px is None else gate_px):
                found.append((distance, key, lost_id))
    out, used_new, used_lost = [], set(), set()
    for _, key, lost_id in sorted(found):
        if key not in used_new and lost_id not in used_lost:
            used_new.add(key)
            used_lost.add(lost_id)
            out.append((key, lost_id))
    return out
