"""Motion gating of a camera: `sources[].motion` (`vigil.sources.motion`, README "Motion gating").

    motion:
      enabled: true
      keepalive_s: 5
      masks:
        - polygon: [[1000, 0], [1280, 0], [1280, 60], [1000, 60]]   # the clock overlay

Coordinates of masks are pixels of the source frame, or 0..1 of its width and height with
`normalized: true`, as for zones.

`keepalive_s` defaults to 5 s, longer than the zones stage's `lost_s` (2 s): the zones stage does
not count the time the gate skipped towards `lost_s` and the tracker is not aged by frames it
never sees, so a standing object survives any gap; the keepalive only decides how often it is
looked at again (confirmed, or dropped once missed on frames adding up to `lost_s`), at the cost
of one inference per camera every `keepalive_s` while nothing moves.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from vigil.config._section import Section
from vigil.config.zones import MAX_POINTS, MAX_ZONES, Point, self_intersection

__all__ = ["MaskConfig", "MotionConfig"]


class MaskConfig(Section):
    """`{polygon: [[x, y], ...], normalized}`: an area whose changes are never motion."""

    polygon: list[Point] = Field(
        max_length=MAX_POINTS,
        description=f"The corners, in order; at least 3 and at most {MAX_POINTS}, edges not crossing each other.",
    )
    normalized: bool = Field(False, description="Coordinates are 0..1 of the frame's width and height, not pixels.")

    @model_validator(mode="after")
    def _a_simple_polygon(self) -> MaskConfig:
        if len(self.polygon) < 3:
            raise ValueError(f"a motion mask's polygon needs at least 3 points, got {len(self.polygon)}")
        if self.normalized and any(not (0 <= v <= 1) for point in self.polygon for v in point):
            raise ValueError("a normalized motion mask has every coordinate between 0 and 1")
        crossing = self_intersection(self.polygon)
        if crossing is not None:
            raise ValueError(
                f"a motion mask's polygon crosses itself (edge {crossing[0]} meets edge {crossing[1]}); "
                "list the corners in order around the area"
            )
        return self


class MotionConfig(Section):
    """The motion gate of one camera: frames where nothing moves skip inference. Off by
    default; README "Motion gating" says when to turn it on and how to tune it."""

    enabled: bool = Field(False, description="Skip inference on frames without motion (counted as skipped: motion).")
    keepalive_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="Run a full detection at least this often (stream time) even without motion, so objects that "
        "stand still are confirmed or dropped.",
    )
    frame_width: int = Field(320, ge=32, le=1920, description="Width of the small grey copy motion is measured on (px).")
    threshold: int = Field(
        25, ge=1, le=255, description="Grey-level difference from the background that counts a pixel as changed."
    )
    min_area: float = Field(
        0.0005,
        gt=0,
        le=1,
        description="A changed region is motion once it covers this fraction of the frame (0.0005: 29 px of 320x180).",
    )
    background_s: float = Field(
        1.0,
        gt=0,
        le=600,
        description="Time constant of the running-average background: longer sees slower motion, but an object "
        "that stops keeps the gate open longer.",
    )
    lighting_fraction: float = Field(
        0.5,
        gt=0,
        le=1,
        description="When this fraction of the unmasked frame changes at once (a light switched on), the background "
        "is re-seeded and the frame is not motion.",
    )
    masks: list[MaskConfig] = Field(
        max_length=MAX_ZONES,
        default_factory=list,
        description="Areas to ignore (a clock overlay, a tree): [{polygon, normalized}, ...].",
    )
