"""`sources[].cascades`: a secondary model run on crops of a camera's detections (a classifier on
faces, a plate reader on cars, an embedding model for re-linking tracks by appearance), its
output attached to the detection the crop came from.

    cascades:
      - {model: plates, classes: [car], min_size: 32, every: 2.5}   # a car's plate read every 2.5 s
      - {model: clip, every: 0.5}   # each track's appearance, for lines[].relink_appearance

Which models exist is known only to the whole configuration, so `PipelineConfig` checks the names
(`PipelineConfig.source_model_problems`); this module checks what one entry can check alone.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from vigil.config._section import Section
from vigil.config.model import MODEL_NAME

__all__ = ["CascadeConfig", "Every", "repeated_cascade"]

_EVERY = "every is once_per_track, detection, or a number of seconds above 0 (at most 86400)"
Every = Literal["once_per_track", "detection"] | Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)]


class CascadeConfig(Section):
    """`{model, name, classes, min_confidence, min_size, pad, top_k, every, vote}`: run the model
    named `model` on crops of this camera's primary detections."""

    model: str = Field(
        pattern=MODEL_NAME,
        description="The secondary model: a name in models:, not this camera's primary model (it runs on the "
        "primary's detections, not on whole frames).",
    )
    # No static default: `_named_after_its_model` gives the model's name. A factory, so the JSON
    # schema (the OpenAPI document) shows no default that would fail the pattern.
    name: str = Field(
        default_factory=str,
        pattern=MODEL_NAME,
        description="What results and events call this cascade's output attached to a detection (default: the "
        "model's name); unique among the camera's cascades.",
    )
    classes: list[Annotated[str, StringConstraints(min_length=1)]] | None = Field(
        None, min_length=1, description="Run only on detections of these classes of the primary model (null: every class)."
    )
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="Run only on detections at least this confident.")
    min_size: int = Field(16, ge=1, le=16_384, description="Run only on crops whose smaller side is at least this many pixels.")
    pad: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Grow the crop by this fraction of the box's width and height on each side (context around "
        "the object), clipped to the frame.",
    )
    top_k: int = Field(5, ge=1, le=100, description="Classification outputs kept per crop: the top-k classes and scores.")
    every: Every = Field(
        "once_per_track",
        description="How often a detection is cropped and run: once_per_track (the first crop of each track that "
        "passes classes, min_confidence and min_size), a number of seconds (at most once per that many seconds "
        "of capture time per track), or detection (every detection of every frame). once_per_track and a number "
        "follow tracks, so the camera is tracked (a tracking stage with the defaults when tracking: is absent, as "
        "for zones).",
    )
    vote: bool = Field(
        True,
        description="Per track, keep the label seen most often (weighted by confidence) across its runs (an "
        "embedding model's: the mean of the track's embeddings), and give it to the track's detections and events; "
        "on an untracked camera (every: detection without tracking) each detection keeps its own output.",
    )

    @model_validator(mode="before")
    @classmethod
    def _named_after_its_model(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") is None and isinstance(data.get("model"), str):
            return {**data, "name": data["model"]}
        return data

    @field_validator("every", mode="wrap")
    @classmethod
    def _how_often(cls, every: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(every, bool):  # YAML's yes/true would read as 1 second
            raise ValueError(_EVERY)
        try:
            return handler(every)
        except ValidationError:
            raise ValueError(_EVERY) from None

    @property
    def per_track(self) -> bool:
        """Whether this cascade runs per track (`every` is not `detection`), so needs tracking."""
        return self.every != "detection"


def repeated_cascade(cascades: list[CascadeConfig]) -> tuple[int, str] | None:
    """The index of the first cascade of a camera whose name an earlier one has, and what is
    wrong; or None."""
    seen: set[str] = set()
    for i, cascade in enumerate(cascades):
        if cascade.name in seen:
            return i, (
                f"cascade name '{cascade.name}' is used twice on this camera (a cascade's name defaults to its "
                "model's); give each cascade its own name"
            )
        seen.add(cascade.name)
    return None
