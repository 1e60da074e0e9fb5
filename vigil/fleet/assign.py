"""Which box runs which camera: rendezvous (highest-random-weight) hashing over the live boxes,
evened out and within each box's capacity. A pure function of the cameras and the members, so
every box computes the same answer from the same buckets.

1. Each box gets a target count: the cameras spread evenly (the counts differ by one at most),
   no box above its `capacity.cameras`; the boxes that take one more are chosen by a hash of
   their names (the same ones each time).
2. Cameras propose to boxes in the order of their rendezvous weights; a box keeps the cameras
   that weigh most for it, up to its target and its `capacity.fps` (deferred acceptance: the
   result does not depend on the order of proposals).
3. A camera refused everywhere goes to the box it weighs most for that still has room within its
   capacity (the targets were too even for the fps limits); else it stays unassigned.

A camera's weight for a box depends only on the two names, so a box joining or leaving moves
about the share of cameras the evening out needs, not a reshuffle.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["UNKNOWN_FPS", "Capacity", "assign", "weight"]

UNKNOWN_FPS = 25.0  # what a camera without max_fps counts for against capacity.fps


@dataclass(frozen=True)
class Capacity:
    """A box's limits (None: none)."""

    cameras: int | None = None
    fps: float | None = None


def weight(camera: str, box: str) -> int:
    """The rendezvous weight of `camera` on `box`: the same on every box and every run."""
    return int.from_bytes(hashlib.blake2b(f"{camera}\0{box}".encode(), digest_size=8).digest(), "big")


def assign(cameras: Mapping[str, float | None], members: Mapping[str, Capacity]) -> dict[str, str | None]:
    """camera -> the box that should run it (None: no box has room). `cameras`: each camera's
    frames per second (its max_fps; None: `UNKNOWN_FPS`); `members`: the live boxes' capacities."""
    fps = {camera: UNKNOWN_FPS if rate is None else float(rate) for camera, rate in cameras.items()}
    boxes = sorted(members)
    result: dict[str, str | None] = dict.fromkeys(sorted(cameras))
    if not boxes:
        return result
    targets = _targets(len(fps), {box: members[box].cameras for box in boxes})
    held = _deferred_acceptance(fps, members, targets)
    for box, names in held.items():
        for camera in names:
            result[camera] = box
    _place_leftovers(result, fps, members, held)
    return result


def _targets(count: int, limits: Mapping[str, int | None]) -> dict[str, int]:
    """How many cameras each box should run: even (+-1), within its limit."""
    targets = dict.fromkeys(limits, 0)
    open_boxes = [box for box, limit in limits.items() if limit is None or limit > 0]
    left = count
    while left > 0 and open_boxes:
        share = left // len(open_boxes)
        if share == 0:  # fewer cameras left than boxes: one more each for the boxes the hash picks
            for box in sorted(open_boxes, key=lambda b: weight("", b), reverse=True)[:left]:
                targets[box] += 1
            break
        full = []
        for box in open_boxes:
            limit = limits[box]
            room = share if limit is None else min(share, limit - targets[box])
            targets[box] += room
            left -= room
            if limit is not None and targets[box] >= limit:
                full.append(box)
        open_boxes = [box for box in open_boxes if box not in full]
    return targets


def _deferred_acceptance(
    fps: Mapping[str, float], members: Mapping[str, Capacity], targets: Mapping[str, int]
) -> dict[str, list[str]]:
    """Cameras propose in rendezvous order; each box keeps its heaviest, up to target and fps."""
    prefs = {camera: sorted(targets, key=lambda box: weight(camera, box), reverse=True) for camera in fps}
    nxt = dict.fromkeys(fps, 0)
    held: dict[str, list[str]] = {box: [] for box in targets}
    free = sorted(fps)
    while free:
        camera = free.pop()
        if nxt[camera] >= len(prefs[camera]):
            continue  # refused everywhere
        box = prefs[camera][nxt[camera]]
        nxt[camera] += 1
        keep = sorted([*held[box], camera], key=lambda c: weight(c, box), reverse=True)
        held[box], refused = _within(keep, box, targets[box], members[box].fps, fps)
        free.extend(refused)
    return held


def _within(
    ranked: list[str], box: str, target: int, fps_limit: float | None, fps: Mapping[str, float]
) -> tuple[list[str], list[str]]:
    """The heaviest of `ranked` that fit in `target` cameras and `fps_limit`; and the others."""
    kept: list[str] = []
    refused: list[str] = []
    total = 0.0
    for camera in ranked:
        if len(kept) < target and (fps_limit is None or total + fps[camera] <= fps_limit + 1e-9):
            kept.append(camera)
            total += fps[camera]
        else:
            refused.append(camera)
    return kept, refused


def _place_leftovers(
    result: dict[str, str | None], fps: Mapping[str, float], members: Mapping[str, Capacity], held: dict[str, list[str]]
) -> None:
    for camera in sorted(c for c, box in result.items() if box is None):
        for box in sorted(members, key=lambda b: weight(camera, b), reverse=True):
            limit = members[box]
            count_ok = limit.cameras is None or len(held[box]) < limit.cameras
            used = math.fsum(fps[c] for c in held[box])
            if count_ok and (limit.fps is None or used + fps[camera] <= limit.fps + 1e-9):
                held[box].append(camera)
                result[camera] = box
                break
