"""Clips with a known ground truth (issue 16): copies of the astronaut's face (the nudenet model
finds it) moving on scripted paths over the coffee photo, rendered to H.264 with PyAV, and the
events the tracking and zones stages must make of them, derived from the script alone.

    scene = Scene((Actor("a", path=((0, 10, 10), (2, 250, 10)), shown=((0, 2),)),), duration_s=2)
    render(scene, tmp_path / "a.mp4")
    expected = expected_events(scene, Rules(lines={"door": ((240, 0), (240, 480))}), offset=(104, 168))

An actor's path is keyframes `(t, x, y)` of the face crop's top-left corner, linear between them
(held before the first and after the last); it is on screen during its `shown` intervals
`[start, stop)` of seconds. `expected_events` replays the stages' documented rules (docs/OUTPUT.md,
"Events") on the anchor (the crop's corner plus `offset`, the detected box's bottom centre
relative to it) frame by frame: each event with the script frame it is about and the frame
that makes it certain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tests.conftest import photo
from vigil.stages.tracking import lost_track_frames

__all__ = ["Actor", "Expected", "Rules", "Scene", "expected_events", "face_crop", "lives", "render"]

_RANK = {"object_start": 0, "zone_exit": 1, "line_cross": 2, "zone_enter": 3, "dwell": 4, "object_end": 5}
# ByteTrack answers -1 for the frame that spawns a track: its id comes with the next sighting.
_SPAWN_FRAMES = 1


def face_crop() -> np.ndarray:
    """The astronaut's face, 180x220 BGR: the size face_clip shows the model finds it at."""
    return photo("astronaut")[10:230, 120:300]


@dataclass(frozen=True)
class Actor:
    """One face: where its crop's top-left corner is (keyframes `(t, x, y)`) and when it is shown."""

    name: str
    path: tuple[tuple[float, float, float], ...]
    shown: tuple[tuple[float, float], ...]

    def at(self, t: float) -> tuple[int, int]:
        """The crop's top-left corner at `t`, in whole pixels (as rendered)."""
        ts, xs, ys = (np.array(v, float) for v in zip(*self.path))
        return round(float(np.interp(t, ts, xs))), round(float(np.interp(t, ts, ys)))

    def visible(self, t: float) -> bool:
        return any(start <= t < stop for start, stop in self.shown)


@dataclass(frozen=True)
class Scene:
    """Faces over the coffee photo: `frames` frames at `fps`, frame i at i / fps seconds."""

    actors: tuple[Actor, ...]
    duration_s: float
    fps: int = 15
    size: tuple[int, int] = (640, 480)

    @property
    def frames(self) -> int:
        return round(self.duration_s * self.fps)

    def time(self, frame: int) -> float:
        # the frame's PTS: a rational, so script and clip agree on which frames an interval holds
        return float(Fraction(frame, self.fps))


def render(scene: Scene, path: Path) -> Path:
    """The scene as H.264 with B-frames (as a camera sends it), each frame's time its PTS."""
    face = face_crop()
    fh, fw = face.shape[:2]
    background = cv2.resize(photo("coffee"), scene.size, interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=scene.fps)
        stream.width, stream.height, stream.pix_fmt = *scene.size, "yuv420p"
        stream.options = {"crf": "20", "g": "12", "bf": "2", "preset": "veryfast"}
        stream.time_base = Fraction(1, scene.fps * 512)
        for i in range(scene.frames):
            image = background.copy()
            t = scene.time(i)
            for actor in scene.actors:
                if actor.visible(t):
                    x, y = actor.at(t)
                    image[y : y + fh, x : x + fw] = face
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


@dataclass(frozen=True)
class Rules:
    """The geometry and the timing settings the stages run with (pixels, seconds)."""

    lines: dict[str, tuple[tuple[float, float], tuple[float, float]]] = field(default_factory=dict)
    zones: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    dwell_s: dict[str, float] = field(default_factory=dict)  # per zone
    min_seen_s: float = 0.5
    lost_s: float = 2.0
    lost_track_s: float = 1.0


@dataclass(frozen=True)
class Expected:
    """An event the script makes: `who` is the object (actor and life: `b1`, `b2`), `seq` the
    script frame it is about, `emitted` the frame that makes it certain (`frames`: at the end)."""

    type: str
    who: str
    where: str | None
    direction: str | None
    seq: int
    emitted: int

    def key(self, first_seen: dict[str, int]) -> tuple[int, int, int, int]:
        # a frame's events leave by (seq, type); at the end, tracks leave in the order they began
        return self.emitted, self.seq, _RANK[self.type], first_seen[self.who]


def lives(scene: Scene, actor: Actor, rules: Rules) -> list[list[int]]:
    """The frames in which `actor` has a tracker id, one list per id: a gap longer than the
    tracker keeps a lost track (`lost_track_s`) makes a new track, whose id comes with its
    second sighting; a gap the zones stage ends (`lost_s`) makes a new object."""
    budget = lost_track_frames(rules.lost_track_s, scene.fps)
    out: list[list[int]] = []
    prev, untracked = None, 0
    for i in (i for i in range(scene.frames) if actor.visible(scene.time(i))):
        if prev is None or i - prev - 1 > budget:
            out.append([])
            untracked = _SPAWN_FRAMES
        elif scene.time(i - 1) - scene.time(prev) >= rules.lost_s:
            out.append([])
        if untracked:
            untracked -= 1
        else:
            out[-1].append(i)
        prev = i
    return [life for life in out if life]


def expected_events(scene: Scene, rules: Rules, offset: tuple[float, float]) -> list[Expected]:
    """Every event of the scene, in the order the stages emit them."""
    events: list[Expected] = []
    first_seen: dict[str, int] = {}
    for actor in scene.actors:
        for k, life in enumerate(lives(scene, actor, rules), 1):
            who = f"{actor.name}{k}"
            first_seen[who] = life[0]
            events += _life_events(scene, rules, actor, who, life, offset)
    return sorted(events, key=lambda e: e.key(first_seen))


@dataclass
class _Held:
    """A boolean that changes once its new value has held `hold_s` (the stage's debounce)."""

    value: bool | None  # None: the first sighting seeds it (a line's side)
    since: int = 0  # the first frame of the value held
    candidate: int | None = None  # the first frame of the other value, while it is not yet held

    def observe(self, value: bool, i: int, scene: Scene, hold_s: float) -> int | None:
        """The first frame of the new value, on the frame that confirms it."""
        if self.value is None or value == self.value:
            self.value, self.candidate = value, None
            return None
        if self.candidate is None:
            self.candidate = i
        if scene.time(i) - scene.time(self.candidate) < hold_s:
            return None
        self.value, self.since, self.candidate = value, self.candidate, None
        return self.since


def _life_events(
    scene: Scene, rules: Rules, actor: Actor, who: str, life: list[int], offset: tuple[float, float]
) -> list[Expected]:
    t = scene.time
    started = next((i for i in life if t(i) - t(life[0]) >= rules.min_seen_s), None)
    if started is None:
        return []  # flicker: no event at all
    out = [Expected("object_start", who, None, None, life[0], started)]
    zones = {name: _Held(False) for name in rules.zones}
    sides = {name: _Held(None) for name in rules.lines}
    dwelled: set[str] = set()
    for i in life:
        x, y = actor.at(t(i))
        anchor = (x + offset[0], y + offset[1])
        for name, polygon in rules.zones.items():
            zone = zones[name]
            inside = _inside(polygon, anchor)
            changed = zone.observe(inside, i, scene, rules.min_seen_s)
            if changed is not None:
                type_ = "zone_enter" if zone.value else "zone_exit"
                out.append(Expected(type_, who, name, None, changed, max(i, started)))
                dwelled.discard(name)
            dwell_s = rules.dwell_s.get(name)
            # a stay lasts while the anchor is inside: not while its exit is being confirmed
            stay_s = t(i) - t(zone.since)
            if inside and zone.value and dwell_s is not None and name not in dwelled and stay_s >= dwell_s:
                dwelled.add(name)
                out.append(Expected("dwell", who, name, None, i, max(i, started)))
        for name, (start, end) in rules.lines.items():
            in_limits, side_in = _side(start, end, anchor)
            changed = sides[name].observe(side_in, i, scene, rules.min_seen_s) if in_limits else None
            if changed is not None:
                out.append(Expected("line_cross", who, name, "in" if side_in else "out", changed, max(i, started)))
    last = life[-1]
    ended = next((f for f in range(last + 1, scene.frames) if t(f) - t(last) >= rules.lost_s), scene.frames)
    out += [Expected("zone_exit", who, name, None, last, ended) for name, zone in zones.items() if zone.value]
    return [*out, Expected("object_end", who, None, None, last, ended)]


def _inside(polygon: list[tuple[float, float]], point: tuple[float, float]) -> bool:
    return cv2.pointPolygonTest(np.array(polygon, np.float32), point, False) > 0


def _side(start: tuple[float, float], end: tuple[float, float], point: tuple[float, float]) -> tuple[bool, bool]:
    """(between the perpendiculars through the ends, on the `in` side): supervision's LineZone,
    where `in` is d.x * p.y - d.y * p.x < 0 with d = end - start, p = point - start."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    px, py = point[0] - start[0], point[1] - start[1]
    along = dx * px + dy * py
    return 0 <= along <= dx * dx + dy * dy, dx * py - dy * px < 0
