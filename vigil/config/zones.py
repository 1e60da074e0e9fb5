"""Zones and lines of a camera: `sources[].zones`, `sources[].lines`, and the `zones` stage's
settings (`vigil.stages.zones`). Coordinates are pixels of the source frame, or 0..1 of its width
and height when `normalized: true` (scaled by the frame's size when it arrives)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from vigil.config._section import Section

__all__ = ["ANCHORS", "Anchor", "LineConfig", "ZoneConfig", "ZonesStageConfig", "repeated_name", "self_intersection"]

Anchor = Literal[
    "bottom_center", "center", "top_center", "center_left", "center_right",
    "top_left", "top_right", "bottom_left", "bottom_right",
]
ANCHORS: tuple[str, ...] = Anchor.__args__  # type: ignore[attr-defined]

Coordinate = Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)]
Point = tuple[Coordinate, Coordinate]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


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

    polygon: list[Point] = Field(description="The corners, in order; at least 3, edges not crossing each other.")
    dwell_s: float | None = Field(
        None, gt=0, le=86_400, description="A `dwell` event when an object stays longer (null: the stage's dwell_s)."
    )

    @model_validator(mode="after")
    def _a_simple_polygon(self) -> ZoneConfig:
        if len(self.polygon) < 3:
            raise ValueError(f"zone '{self.name}': a polygon needs at least 3 points, got {len(self.polygon)}")
        self._check_normalized(self.polygon)
        crossing = self_intersection(self.polygon)
        if crossing is not None:
            i, j = crossing
            raise ValueError(f"zone '{self.name}': the polygon crosses itself (edge {i} meets edge {j}); "
                             "list the corners in order around the area")
        return self


class LineConfig(_Shape):
    """`{name, start: [x, y], end: [x, y], classes, normalized}`: a line objects cross `in` or
    `out` (supervision's `LineZone` convention, docs/OUTPUT.md)."""

    start: Point = Field(description="One end of the line.")
    end: Point = Field(description="The other end; the direction start -> end decides which crossing is `in`.")

    @model_validator(mode="after")
    def _a_line(self) -> LineConfig:
        self._check_normalized([self.start, self.end])
        if self.start == self.end:
            raise ValueError(f"line '{self.name}': start and end are the same point (a zero-length line)")
        return self


class ZonesStageConfig(Section):
    """`{kind: zones, zones: [...], lines: [...], ...}`: object, zone and line events of a tracked
    source. `sources[].zones` / `sources[].lines` make this stage with the defaults below."""

    zones: list[ZoneConfig] = Field(default_factory=list, description="Areas: zone_enter, zone_exit, dwell.")
    lines: list[LineConfig] = Field(default_factory=list, description="Lines: line_cross in or out.")
    anchor: Anchor = Field("bottom_center", description="Which point of a box is tested against zones and lines.")
    min_seen_s: float = Field(
        0.5, ge=0, le=3600, description="An object starts, enters or crosses only once seen that long (no flicker events)."
    )
    lost_s: float = Field(2.0, gt=0, le=86_400, description="object_end once a track is unseen this long (capture time).")
    dwell_s: float | None = Field(None, gt=0, le=86_400, description="Default dwell time of the zones (null: no dwell).")

    @model_validator(mode="after")
    def _unique_names(self) -> ZonesStageConfig:
        problem = repeated_name(self.zones, self.lines)
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
    meet other than at their shared corner, or None. O(n^2): zones have a handful of corners."""
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            adjacent = j == i + 1 or (i == 0 and j == n - 1)
            if adjacent:
                if _overlap_adjacent(edges[i], edges[j]):
                    return i, j
            elif _segments_meet(*edges[i], *edges[j]):
                return i, j
    return None


def _orient(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _segments_meet(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether segments ab and cd share a point (touching counts)."""
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if ((o1 > 0 and o2 < 0) or (o1 < 0 and o2 > 0)) and ((o3 > 0 and o4 < 0) or (o3 < 0 and o4 > 0)):
        return True
    return ((o1 == 0 and _on_segment(a, b, c)) or (o2 == 0 and _on_segment(a, b, d))
            or (o3 == 0 and _on_segment(c, d, a)) or (o4 == 0 and _on_segment(c, d, b)))


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
