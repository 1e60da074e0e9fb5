"""Re-linking lost tracks: where a track that vanished would be now (its last anchor moved on
at its recent velocity), and which new tracks continue which lost ones, by that prediction and,
when both tracks have an embedding (a cascade of an embedding model), by their appearance.

A tracker gives an object a new id when it loses it for longer than it keeps lost tracks, or
when the box that comes back does not overlap the predicted one (an occlusion, a burst of
missed detections, a fast object at a low frame rate). The lines rule (vigil.stages.rules.lines)
hands a lost track's side of a line to the new track that `pairs` matches it with, so a crossing
begun under one id and finished under another is counted once.

    trail = Trail(class_id=0); trail.add(10.0, 300.0, 400.0, 80.0)
    pairs([New(5, (330.0, 400.0), 0)], {7: trail}, now=10.4, window_s=1.5, gate_px=None)  # [(5, 7, "motion")]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

__all__ = ["APPEARANCE_REACH", "New", "Trail", "pairs"]

VELOCITY_S = 1.0  # a trail's velocity: its motion over its last second of sightings
_KEPT = 32  # anchors kept per trail (a second at 30 fps)
# How much farther than the motion gate a new track alike enough in appearance may be: an object
# that stopped or turned behind an occluder reappears off its predicted path, but seldom by more
# than a few of its own widths in the second or two a re-link waits.
APPEARANCE_REACH = 3.0


class New(NamedTuple):
    """A track seen for the first time: its key (the caller's), anchor, class and embedding (or None)."""

    key: int
    anchor: tuple[float, float]
    class_id: int
    appearance: np.ndarray | None = None


@dataclass(slots=True)
class Trail:
    """A track's recent anchors `(t, x, y)` (pixels), its class and the larger side of its last box."""

    class_id: int
    points: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=_KEPT))
    size: float = 0.0
    appearance: np.ndarray | None = None  # the track's latest embedding (L2-normalised), when it has one

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
    new: Sequence[New],
    lost: Mapping[int, Trail],
    now: float,
    window_s: float,
    gate_px: float | None,
    min_similarity: float | None = None,
) -> list[tuple[int, int, Literal["motion", "appearance"]]]:
    """(new key, lost id, how) triples: each new track with the lost track of its class, unseen
    for at most `window_s` (and not this instant), whose predicted anchor is nearest and within
    `gate_px` (None: the lost box's larger side), each track once.

    With `min_similarity` and an embedding on both tracks, appearance decides: pairs at least that
    alike (cosine) may be up to `APPEARANCE_REACH` gates apart and go first, most alike first
    (`"appearance"`); pairs less alike are never made. Other pairs go by distance (`"motion"`)."""
    found: list[tuple[int, float, float, int, int]] = []  # (tier, -similarity, distance, key, lost id)
    for candidate in new:
        x, y = candidate.anchor
        for lost_id, trail in lost.items():
            gap = now - trail.last_t
            if trail.class_id != candidate.class_id or not 0 < gap <= window_s:
                continue
            px, py = trail.predict(now)
            distance = ((px - x) ** 2 + (py - y) ** 2) ** 0.5
            gate = trail.size if gate_px is None else gate_px
            if min_similarity is not None and candidate.appearance is not None and trail.appearance is not None:
                similarity = float(np.dot(candidate.appearance, trail.appearance))
                if similarity >= min_similarity and distance <= APPEARANCE_REACH * gate:
                    found.append((0, -similarity, distance, candidate.key, lost_id))
            elif distance <= gate:
                found.append((1, 0.0, distance, candidate.key, lost_id))
    out: list[tuple[int, int, Literal["motion", "appearance"]]] = []
    used_new: set[int] = set()
    used_lost: set[int] = set()
    for tier, _, _, key, lost_id in sorted(found):
        if key not in used_new and lost_id not in used_lost:
            used_new.add(key)
            used_lost.add(lost_id)
            out.append((key, lost_id, "appearance" if tier == 0 else "motion"))
    return out
