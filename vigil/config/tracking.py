"""Tracking settings: `sources[].tracking: {...}` and the `{kind: tracking, ...}` stage share them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from vigil.config._section import Section

__all__ = ["TrackingSettings"]


class TrackingSettings(Section):
    """ByteTrack (Roboflow's `trackers`) on one camera. Timing is in seconds: the tracker's
    frame budget follows the source's measured frame rate, which `max_fps` sampling changes."""

    lost_track_s: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="Keep a track this long without a detection, so an object hidden briefly keeps its id.",
    )
    track_activation_threshold: float = Field(
        0.7, ge=0, le=1, description="A detection starts a new track only at this confidence or above."
    )
    high_confidence_threshold: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Detections at or above this confidence are matched first; weaker ones only extend existing tracks.",
    )
    minimum_iou_threshold: float = Field(
        0.1, ge=0, le=1, description="Smallest overlap (IoU) of a detection with a track's predicted box to match it."
    )
    minimum_consecutive_frames: int = Field(
        2, ge=1, le=1000, description="Frames in a row a new object must be seen before it gets a tracker_id."
    )
    classes: list[int | Annotated[str, StringConstraints(min_length=1)]] | None = Field(
        None,
        min_length=1,
        description="Track only these classes (ids or names; null: all). Others pass on with tracker_id -1.",
    )
