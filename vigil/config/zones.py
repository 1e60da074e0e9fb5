"""Zones and lines of a camera: `sources[].zones`, `sources[].lines`, and the `zones` stage's
settings (`vigil.stages.zones`). Coordinates are pixels of the source frame, or 0..1 of its width
and height when `normalized: true` (scaled by the frame's size when it arrives)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from vigil.config._section import Section
from vigil.config.speed import SpeedConfig, limit_problem

__all__ = [
    "ANCHORS",
    "Anchor",
    "LineConfig",
    "MAX_LINES",
    "MAX_POINTS",
    "MAX_ZONES",
    "ZoneConfig",
    "ZonesStageConfig",
    "repeated_name",
    "self_intersection",
]

Anchor = Literal[
    "bottom_center",
    "center",
    "top_center",
    "center_left",
    "center_right",
    "top_left",
    "top_right",
    "bottom_left",
    "bottom_right",
]
ANCHORS: tuple[str, ...] = Anchor.__args__  # type: ignore[attr-defined]

Coordinate = Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)]
Point = tuple[Coordinate, Coordinate]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Bounds on the work one camera's shapes cost to check and to run, whoever sends them (the YAML,
# PUT /api/v1/streams/{name}/zones, the API's state file): a polygon of thousands of corners is a
# mistake or an attack, never an area someone drew.
MAX_POINTS = 100  # corners of one polygon (zones, motion masks)
MAX_ZONES = 32  # zones of one camera (or one zones stage)
MAX_LINES = 32  # lines of one camera (or one zones stage)
_ROWS = 64  # edges checked against all others at once by self_intersection (bounds its memory)


class _Shape(Section):
    name: str = Field(pattern=_NAME, description="Named in the events (zone or line).")
    classes: list[str | int] | None = Field(
        None, min_length=1, description="Only objects of these classes (names or ids); null: every class."
    )
    normalized: bool = Field(False, description="Coordinates are 0..1 of the frame's width and height, not pixels.")

    def _check_normalized(self, points: list[Point]) -> None:
        if self.normalized and any(not (0 <= v <= 1) for point in points for v in point):
            raise ValueError(f"'{self.name}' is normalized: every coordinate is between 0 and 1")


class ZoneConfig(_Shape):
    """`{name, polygon: [[x, y], ...], classes, dwell_s, normalized}`: an area of the frame."""

    polygon: list[Point] = Field(
        max_length=MAX_POINTS,
        description=f"The corners, in order; at least 3 and at most {MAX_POINTS}, edges not crossing each other.",
    )
    dwell_s: float | None = Field(
        None, gt=0, le=86_400, description="A `dwell` event when an object stays longer (null: the stage's dwell_s)."
    )
    speed_limit_kmh: float | None = Field(
        None, gt=0, le=10_000, description="A `speeding` event when an object inside goes faster (needs the camera's speed:)."
    )

    @model_validator(mode="after")
    def _a_simple_polygon(self) -> ZoneConfig:
        if len(self.polygon) < 3:
            raise ValueError(f"zone '{self.name}': a polygon needs at least 3 points, got {len(self.polygon)}")
        self._check_normalized(self.polygon)
        crossing = self_intersection(self.polygon)
        if crossing is not None:
            i, j = crossing
            raise ValueError(
                f"zone '{self.name}': the polygon crosses itself (edge {i} meets edge {j}); "
                "list the corners in order around the area"
            )
        return self


class LineConfig(_Shape):
    """`{name, start: [x, y], end: [x, y], classes, normalized}`: a line objects cross `in` or
    `out` (supervision's `LineZone` convention, docs/OUTPUT.md)."""

    start: Point = Field(description="One end of the line.")
    end: Point = Field(description="The other end; the direction start -> end decides which crossing is `in`.")
    hysteresis_px: float | None = Field(
        None,
        ge=0,
        le=10_000,
        description="A crossing counts once the anchor has also been this far past the line (pixels; null: a tenth of "
        "the object's box height), so an object standing or jittering on the line is not counted again and again.",
    )
    relink_s: float = Field(
        1.5,
        ge=0,
        le=60,
        description="A track lost at most this long before a new one appears where it was heading continues its "
        "crossing (an id switch, an occlusion; 0: off).",
    )
    relink_px: float | None = Field(
        None,
        gt=0,
        le=10_000,
        description="How far from the lost track's predicted position the new one may appear (pixels; null: the lost "
        "box's larger side).",
    )
    relink_appearance: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Re-link by appearance too: the least cosine similarity between the lost and the new track's "
        "embeddings (a cascade of an embedding model on this camera, e.g. {model: clip, every: 0.5}). Tracks whose "
        "embeddings are this alike may be re-linked up to 3x relink_px from the predicted position and are paired "
        "most alike first; tracks less alike are never re-linked; a track without an embedding is re-linked by "
        "position and motion alone. null: position and motion alone.",
    )

    @model_validator(mode="after")
    def _a_line(self) -> LineConfig:
        self._check_normalized([self.start, self.end])
        if self.start == self.end:
            raise ValueError(f"line '{self.name}': start and end are the same point (a zero-length line)")
        return self


class ZonesStageConfig(Section):
    """`{kind: zones, zones: [...], lines: [...], ...}`: object, zone and line events of a tracked
    source. `sources[].zones` / `sources[].lines` make this stage with the defaults below."""

    zones: list[ZoneConfig] = Field(
        default_factory=list, max_length=MAX_ZONES, description=f"Areas (at most {MAX_ZONES}): zone_enter, zone_exit, dwell."
    )
    lines: list[LineConfig] = Field(
        default_factory=list, max_length=MAX_LINES, description=f"Lines (at most {MAX_LINES}): line_cross in or out."
    )
    anchor: Anchor = Field("bottom_center", description="Which point of a box is tested against zones and lines.")
    min_seen_s: float = Field(
        0.5, ge=0, le=3600, description="An object starts, enters or crosses only once seen that long (no flicker events)."
    )
    lost_s: float = Field(2.0, gt=0, le=86_400, description="object_end once a track is unseen this long (capture time).")
    dwell_s: float | None = Field(None, gt=0, le=86_400, description="Default dwell time of the zones (null: no dwell).")
    speed: SpeedConfig | None = Field(None, description="Speed calibration (the camera's speed:): speed_kmh, speeding.")

    @model_validator(mode="after")
    def _unique_names(self) -> ZonesStageConfig:
        problem = repeated_name(self.zones, self.lines) or limit_problem(list(self.zones), self.speed)
        if problem:
            raise ValueError(problem)
        return self


def repeated_name(zones: list[ZoneConfig], lines: list[LineConfig]) -> str | None:
    """What is wrong when two zones (or two lines) of a camera share a name, or None."""
    for what, names in (("zone", [z.name for z in zones]), ("line", [line.name for line in lines])):
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            return f"{what} name '{repeated[0]}' is used twice; names must be unique"
    return None


def self_intersection(polygon: list[Point]) -> tuple[int, int] | None:
    """The first pair of edges (by index, edge i from point i to i+1) of a closed polygon that
    meet other than at their shared corner, or None. Every pair is tested, vectorised over `_ROWS`
    edges at a time (about 1 ms for MAX_POINTS corners; pure Python took 27 s for 4,000)."""
    import numpy as np

    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    adjacent = sorted({(i, i + 1) for i in range(n - 1)} | ({(0, n - 1)} if n > 1 else set()))
    found = [(i, j) for i, j in adjacent if _overlap_adjacent(edges[i], edges[j])]
    if n < 4:  # every pair of edges is adjacent
        return min(found, default=None)
    a = np.asarray(polygon, dtype=np.float64).reshape(n, 2)
    b = np.roll(a, -1, axis=0)
    j = np.arange(n)[None, :]
    for start in range(0, n, _ROWS):
        i = np.arange(start, min(n, start + _ROWS))[:, None]
        rows, cols = np.nonzero(_edges_meet(a[i[:, 0]], b[i[:, 0]], a, b) & (j > i + 1) & ~((i == 0) & (j == n - 1)))
        if rows.size:
            found.append((start + int(rows[0]), int(cols[0])))
            break
    return min(found, default=None)


def _edges_meet(a1: Any, b1: Any, a2: Any, b2: Any) -> Any:
    """(len(a1), len(a2)) booleans: whether edge a1[i]b1[i] and edge a2[j]b2[j] share a point
    (touching counts), with the arithmetic of `_orient` term for term."""
    import numpy as np

    def orient(a: Any, b: Any, c: Any) -> Any:  # a, b: (m, 1, 2) or (1, k, 2); c likewise
        return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])

    def on_segment(a: Any, b: Any, p: Any) -> Any:
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        return ((lo <= p) & (p <= hi)).all(axis=-1)

    p, q = a1[:, None, :], b1[:, None, :]
    r, s = a2[None, :, :], b2[None, :, :]
    o1, o2, o3, o4 = orient(p, q, r), orient(p, q, s), orient(r, s, p), orient(r, s, q)
    proper = (((o1 > 0) & (o2 < 0)) | ((o1 < 0) & (o2 > 0))) & (((o3 > 0) & (o4 < 0)) | ((o3 < 0) & (o4 > 0)))
    touching = ((o1 == 0) & on_segment(p, q, r)) | ((o2 == 0) & on_segment(p, q, s))
    touching |= ((o3 == 0) & on_segment(r, s, p)) | ((o4 == 0) & on_segment(r, s, q))
    return proper | touching


def _orient(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _overlap_adjacent(e: tuple[Point, Point], f: tuple[Point, Point]) -> bool:
    """Adjacent edges share a corner; they are bad only when they fold back over each other
    (collinear, pointing the same way from the shared corner) or repeat a point."""
    (a, b), (c, d) = e, f
    if a == b or c == d:
        return True  # a repeated corner: a zero-length edge
    shared = b if b in (c, d) else a
    p = a if shared == b else b
    q = d if shared == c else c
    if _orient(shared, p, q) != 0:
        return False
    return (p[0] - shared[0]) * (q[0] - shared[0]) + (p[1] - shared[1]) * (q[1] - shared[1]) > 0
