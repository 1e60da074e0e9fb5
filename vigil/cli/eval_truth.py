"""Ground truth for `vigil eval` (docs/EVAL.md): a MOTChallenge `gt.txt` read into tracks, and
the true line crossings and speeds derived from those tracks with the camera's own lines and
speed calibration, so a clip needs no labels beyond its boxes.

A crossing is a change of side of a track's anchor (the bottom centre of its box, as the lines
stage's default `anchor`) between two frames in which it is between the line's ends; its
direction follows supervision's LineZone (as the stage). A true speed is the slope of a
least-squares line through the track's ground positions (the calibration's homography of the
anchor) against time over the calibration's `window_s`: the stage's own definition, on the
labelled boxes instead of the detected ones, so a speed error measures the detection and the
tracking, not a difference of definitions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.config.homography import homography, to_plane
from vigil.errors import VigilError

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 (pixels)
# frame (1-based, MOTChallenge) -> [(id, box)]
Frames = dict[int, list[tuple[int, Box]]]
Segment = tuple[tuple[float, float], tuple[float, float]]
MIN_SPAN = 0.75  # a speed needs positions over three quarters of the window (as the speed stage)


class TruthError(VigilError):
    """A ground-truth file that cannot be read: the message names the file and the line."""


@dataclass(frozen=True)
class Truth:
    frames: Frames
    ids: int
    boxes: int


def read_truth(path: Path) -> Truth:
    """`path` in MOTChallenge format: `frame,id,x,y,w,h[,conf,class,visibility[,...]]` a line
    (frames from 1, boxes' top-left corner and size in pixels); a row whose `conf` is 0 is
    ignored (MOTChallenge's "do not evaluate"); blank lines and `#` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TruthError(f"cannot read the ground truth {path}: {exc}; give a MOTChallenge gt.txt with --truth") from exc
    frames: Frames = defaultdict(list)
    seen: set[tuple[int, int]] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        row = _row(path, number, line)
        if row is None:
            continue
        frame, ident, box = row
        if (frame, ident) in seen:
            raise TruthError(f"{path} line {number}: id {ident} appears twice in frame {frame}; each id is one box a frame")
        seen.add((frame, ident))
        frames[frame].append((ident, box))
    if not frames:
        raise TruthError(f"{path}: no box to evaluate (every row empty or with conf 0); a gt.txt row is frame,id,x,y,w,h,...")
    return Truth(dict(frames), len({i for _, i in seen}), len(seen))


def _row(path: Path, number: int, line: str) -> tuple[int, int, Box] | None:
    fields = line.split(",")
    where = f"{path} line {number}"
    if len(fields) < 6:
        raise TruthError(f"{where}: {len(fields)} fields, expected at least 6 (frame,id,x,y,w,h[,conf,class,visibility])")
    try:
        values = [float(f) for f in fields[:7]]
    except ValueError:
        raise TruthError(f"{where}: not a number in {line.strip()!r} (frame,id,x,y,w,h[,conf,...] are numbers)") from None
    frame, ident, x, y, w, h = values[:6]
    if frame != int(frame) or frame < 1 or ident != int(ident):
        raise TruthError(f"{where}: frame {fields[0].strip()} and id {fields[1].strip()} must be whole, frames counted from 1")
    if not (w > 0 and h > 0) or not all(np.isfinite(values)):
        raise TruthError(f"{where}: the box's width and height must be positive numbers (got {w:g} x {h:g})")
    if len(values) > 6 and values[6] == 0:
        return None
    return int(frame), int(ident), (x, y, x + w, y + h)


def tracks(frames: Frames) -> dict[int, list[tuple[int, Box]]]:
    """Each id's (frame, box), by frame."""
    out: dict[int, list[tuple[int, Box]]] = defaultdict(list)
    for frame in sorted(frames):
        for ident, box in frames[frame]:
            out[ident].append((frame, box))
    return dict(out)


def anchor(box: Box) -> tuple[float, float]:
    """The box's bottom centre: where it touches the ground."""
    return (box[0] + box[2]) / 2, box[3]


def side(segment: Segment, point: tuple[float, float]) -> bool | None:
    """True on the `in` side (supervision's LineZone: d.x * p.y - d.y * p.x < 0), None beyond its ends."""
    (sx, sy), (ex, ey) = segment
    dx, dy, px, py = ex - sx, ey - sy, point[0] - sx, point[1] - sy
    if not 0 <= dx * px + dy * py <= dx * dx + dy * dy:
        return None
    return dx * py - dy * px < 0


def true_crossings(frames: Frames, lines: dict[str, Segment]) -> dict[str, dict[str, int]]:
    """{line: {"in": n, "out": n}}: every change of side of every track's anchor."""
    counts = {name: {"in": 0, "out": 0} for name in lines}
    for life in tracks(frames).values():
        for name, segment in lines.items():
            last = None
            for _, box in life:
                now = side(segment, anchor(box))
                if now is None:
                    continue
                if last is not None and now != last:
                    counts[name]["in" if now else "out"] += 1
                last = now
    return counts


def fitted_kmh(positions: list[tuple[float, float, float]], window_s: float) -> float | None:
    """km/h from `(t, x, y)` in seconds and metres: a least-squares slope; None under MIN_SPAN of the window."""
    if len(positions) < 2 or positions[-1][0] - positions[0][0] < MIN_SPAN * window_s - 1e-9:
        return None
    data = np.asarray(positions, np.float64)
    t = data[:, 0] - data[:, 0].mean()
    velocity = t @ (data[:, 1:] - data[:, 1:].mean(axis=0)) / (t @ t)
    return float(np.hypot(*velocity) * 3.6)


def true_speeds(
    frames: Frames, image: list[list[float]], world: list[list[float]], window_s: float, fps: float
) -> dict[tuple[int, int], float]:
    """{(frame, id): km/h} of every labelled box whose track spans enough of the window before it."""
    matrix = homography(image, world)
    out: dict[tuple[int, int], float] = {}
    for ident, life in tracks(frames).items():
        ground = to_plane(matrix, np.array([anchor(box) for _, box in life]))
        positions = [((frame - 1) / fps, float(x), float(y)) for (frame, _), (x, y) in zip(life, ground)]
        first = 0
        for k, (frame, _) in enumerate(life):
            while positions[k][0] - positions[first][0] > window_s + 1e-9:
                first += 1
            kmh = fitted_kmh(positions[first : k + 1], window_s)
            if kmh is not None:
                out[(frame, ident)] = kmh
    return out
