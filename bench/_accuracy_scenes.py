"""Scenes for bench/accuracy.py whose truth is known by construction: the astronaut's face (a real
photo that nudenet's YOLOv8n finds) walking on scripted ground paths, in metres and metres a second,
over scikit-image's coffee photo seen through a perspective (a ground homography: far objects
higher up and smaller), with occlusions between them (the nearer one is drawn last), pauses with
a sway on the line, and missed detections (frames in which an object is not drawn).

An actor's path is keyframes `(t, X, Y)` on the ground (linear between, held outside); `sway`
intervals add a 0.15 m, 1 Hz sway along X (someone standing on the line, shifting their weight);
`gaps` are intervals in which the detector misses it. The truth is the script's:
- its boxes each frame (MOTChallenge gt rows; a missed frame is still there, visibility 0),
- its crossings of the line by the swayless path (a sway is not a crossing),
- its speed on frames at least one smoothing window into a stretch of constant velocity."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

# the ground: X across (0..16 m), Y from the far edge (0) to the near one (20 m)
WORLD = [[0.0, 0.0], [16.0, 0.0], [16.0, 20.0], [0.0, 20.0]]
IMAGE = [[100.0, 190.0], [460.0, 190.0], [640.0, 470.0], [0.0, 470.0]]
LINE_X = 8.0  # the counting line: X = 8 m across the whole ground
SIZE, FPS = (640, 480), 15
# the detected face box relative to the anchor (its bottom centre), in crop pixels at scale 1:
# the crop's top-left is 104 px left of and 168 px above the anchor; the box is 98 x 99 px.
ANCHOR_IN_CROP, BOX_IN_CROP, BOX_SIZE = (104, 168), (55, 69), (98, 99)
SWAY_M, SWAY_HZ = 0.15, 1.0


@dataclass(frozen=True)
class Actor:
    path: tuple[tuple[float, float, float], ...]
    sway: tuple[tuple[float, float], ...] = ()
    gaps: tuple[tuple[float, float], ...] = ()

    def ground(self, t: float, sway: bool = True) -> tuple[float, float]:
        ts, xs, ys = (np.array(v, float) for v in zip(*self.path))
        x, y = float(np.interp(t, ts, xs)), float(np.interp(t, ts, ys))
        if sway and any(a <= t < b for a, b in self.sway):
            x += SWAY_M * np.sin(2 * np.pi * SWAY_HZ * t)
        return x, y

    def present(self, t: float) -> bool:
        return self.path[0][0] <= t <= self.path[-1][0]

    def seen(self, t: float) -> bool:
        return self.present(t) and not any(a <= t < b for a, b in self.gaps)

    def speed_ms(self, t: float, window_s: float) -> float | None:
        """Its true speed at `t` when it has moved at one velocity, unswayed, for `window_s` (else None)."""
        for (t0, x0, y0), (t1, x1, y1) in zip(self.path, self.path[1:]):
            if t0 + window_s <= t <= t1 and not any(a < t and b > t - window_s for a, b in self.sway):
                return float(np.hypot(x1 - x0, y1 - y0) / (t1 - t0))
        return None


@dataclass(frozen=True)
class Scene:
    name: str
    actors: tuple[Actor, ...]
    duration_s: float
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return round(self.duration_s * FPS)


def _matrix() -> np.ndarray:
    from vigil.config.homography import homography

    return homography(WORLD, IMAGE)


def to_image(points: np.ndarray) -> np.ndarray:
    from vigil.config.homography import to_plane

    return to_plane(_matrix(), points)


def scale(anchor_y: float) -> float:
    """The face's size at this height in the picture: 0.7 at the far edge, 1.0 at the near one."""
    return 0.7 + 0.3 * (anchor_y - IMAGE[0][1]) / (IMAGE[2][1] - IMAGE[0][1])


def line_segment() -> tuple[tuple[float, float], tuple[float, float]]:
    (x0, y0), (x1, y1) = to_image(np.array([[LINE_X, 0.0], [LINE_X, 20.0]]))
    return (round(x0, 2), round(y0, 2)), (round(x1, 2), round(y1, 2))


def time(frame: int) -> float:
    return float(Fraction(frame, FPS))


def boxes(scene: Scene, frame: int) -> list[tuple[int, tuple[float, float, float, float], bool]]:
    """(id from 1, face box xyxy, seen) of every actor present in `frame`, far ones first."""
    t = time(frame)
    out = []
    for ident, actor in enumerate(scene.actors, 1):
        if not actor.present(t):
            continue
        ((ax, ay),) = to_image(np.array([actor.ground(t)]))
        s = scale(ay)
        x1 = ax - (ANCHOR_IN_CROP[0] - BOX_IN_CROP[0]) * s
        y1 = ay - (ANCHOR_IN_CROP[1] - BOX_IN_CROP[1]) * s
        out.append((ident, (x1, y1, x1 + BOX_SIZE[0] * s, y1 + BOX_SIZE[1] * s), actor.seen(t)))
    return sorted(out, key=lambda row: row[1][3])


def gt_rows(scene: Scene) -> list[str]:
    rows = []
    for frame in range(scene.frames):
        for ident, (x1, y1, x2, y2), seen in boxes(scene, frame):
            rows.append(f"{frame + 1},{ident},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},1,1,{1 if seen else 0}")
    return rows


def true_crossings(scene: Scene) -> dict[str, int]:
    """{"in": n, "out": n} of the swayless paths, in supervision's convention for `line_segment()`."""
    from vigil.cli.eval_truth import side

    segment = line_segment()
    counts = {"in": 0, "out": 0}
    for actor in scene.actors:
        last = None
        for frame in range(scene.frames):
            if not actor.present(time(frame)):
                continue
            ((ax, ay),) = to_image(np.array([actor.ground(time(frame), sway=False)]))
            now = side(segment, (ax, ay))
            if now is not None and last is not None and now != last:
                counts["in" if now else "out"] += 1
            last = now if now is not None else last
    return counts


def true_kmh(scene: Scene, window_s: float) -> dict[tuple[int, int], float]:
    """{(MOTChallenge frame, id): km/h} where the actor's speed is known (see Actor.speed_ms)."""
    out = {}
    for frame in range(scene.frames):
        for ident, actor in enumerate(scene.actors, 1):
            speed = actor.speed_ms(time(frame), window_s) if actor.present(time(frame)) else None
            if speed is not None:
                out[(frame + 1, ident)] = speed * 3.6
    return out


def render(scene: Scene, path: Path) -> Path:
    """The scene as H.264 (B-frames, as a camera sends it)."""
    import av
    import cv2
    import skimage.data

    face = np.ascontiguousarray(skimage.data.astronaut()[10:230, 120:300, ::-1])
    background = cv2.resize(np.ascontiguousarray(skimage.data.coffee()[:, :, ::-1]), SIZE, interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.options = {"crf": "20", "g": "12", "bf": "2", "preset": "veryfast"}
        stream.time_base = Fraction(1, FPS * 512)
        for frame in range(scene.frames):
            image = background.copy()
            for _, (x1, y1, _, y2), seen in boxes(scene, frame):
                if seen:
                    _paste(image, face, x1, y1, (y2 - y1) / BOX_SIZE[1])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def _paste(image: np.ndarray, face: np.ndarray, box_x: float, box_y: float, s: float) -> None:
    import cv2

    crop = cv2.resize(face, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    left, top = round(box_x - BOX_IN_CROP[0] * s), round(box_y - BOX_IN_CROP[1] * s)
    h, w = crop.shape[:2]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + w, SIZE[0]), min(top + h, SIZE[1])
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = crop[y0 - top : y1 - top, x0 - left : x1 - left]


def scenes(short: bool) -> list[Scene]:
    """The scenes: `short` keeps one small one (a test checks the report's shape)."""
    crossing = Scene(
        "crossings",
        (
            Actor(((0, 2, 4), (8, 14, 4))),  # 1.5 m/s across, far
            Actor(((1, 14, 10), (7, 2, 12)), gaps=((3.2, 3.6),)),  # back, diagonally, missed 0.4 s near the line
            Actor(((2, 3, 17), (7, 13, 17))),  # 2 m/s, near
        ),
        9,
        "three walkers, one missed by the detector for 0.4 s as it crosses",
    )
    if short:
        return [Scene("short", crossing.actors[:2], 8, crossing.notes)]
    occlusion = Scene(
        "occlusion",
        (
            Actor(((0, 2, 8), (8, 14, 8))),  # 1.5 m/s; passes behind the next one (a jogger) at the line
            Actor(((1.6, 14, 10.5), (6.4, 2, 10.5))),
            Actor(((5, 2, 2), (5.5, 2, 2), (11, 12, 3))),  # waits, then walks far behind
            Actor(((3, 13, 16), (10, 4, 16)), gaps=((6, 6.4),)),
        ),
        11,
        "two walkers pass each other on the line (the far one hidden), two more, one missed for 0.4 s",
    )
    pauses = Scene(
        "pauses",
        (
            Actor(((0, 3, 6), (3, 7.9, 6), (7, 7.9, 6), (10, 13, 6)), sway=((3, 7),)),  # stops on the line, sways, goes on
            Actor(((0, 13, 14), (3, 8.1, 14), (7, 8.1, 14), (10, 13, 14)), sway=((3, 7),)),  # comes to the line and back
            Actor(((1, 2, 18), (9, 14, 18))),
        ),
        11,
        "one stops on the line swaying then crosses; one sways on it and turns back (no crossing); one walks by",
    )
    return [crossing, occlusion, pauses]
