"""A camera's speed calibration, `sources[].speed`: four points on the ground as the image shows
them and the same four in metres on the ground, from which a homography takes each object's
anchor to the ground (vigil.stages._speed measures its speed there; README, "Speed").

    speed:
      image: [[420, 300], [860, 300], [1180, 700], [100, 700]]   # pixels (or 0..1 with normalized)
      world: [[0, 0], [3.5, 0], [3.5, 20], [0, 20]]              # metres, same order
      window_s: 1.0
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from vigil.config._section import Section
from vigil.config.homography import problem

__all__ = ["SpeedConfig", "limit_problem"]

Coordinate = Annotated[float, Field(ge=-100_000, le=100_000, allow_inf_nan=False)]
Point = tuple[Coordinate, Coordinate]


class SpeedConfig(Section):
    """`{image: [4 points], world: [4 points in metres], window_s, normalized}`: speed in km/h."""

    image: list[Point] = Field(
        max_length=16, description="Four points on the ground in the frame (pixels, or 0..1 with normalized), in order."
    )
    world: list[Point] = Field(
        max_length=16, description="The same four points on the ground, in metres (any origin and axes), in the same order."
    )
    window_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="An object's speed is the fit of its ground positions over the last window_s seconds (smoothing).",
    )
    normalized: bool = Field(False, description="The image points are 0..1 of the frame's width and height, not pixels.")

    @model_validator(mode="after")
    def _a_mapping(self) -> SpeedConfig:
        found = problem(self.image, self.world)
        if found:
            raise ValueError(found)
        if self.normalized and any(not (0 <= v <= 1) for point in self.image for v in point):
            raise ValueError("speed.image is normalized: every coordinate is between 0 and 1")
        return self


def limit_problem(zones: list[object], speed: SpeedConfig | None) -> str | None:
    """What is wrong when a zone has a `speed_limit_kmh` on a camera without `speed:`, or None."""
    limited = [getattr(zone, "name", "") for zone in zones if getattr(zone, "speed_limit_kmh", None) is not None]
    if limited and speed is None:
        return (
            f"zone '{limited[0]}' has speed_limit_kmh, but the camera has no speed calibration; "
            "add speed: {image: [4 points], world: [4 points in metres]} (README, Speed)"
        )
    return None
