"""The size a camera's pictures are decoded to: `sources[].decode_size` (`vigil.sources._scaling`).

    decode_size: [640, 360]   # every picture scaled to 640x360 by the decoder, with its colour conversion
    decode_size: model        # the largest size with the camera's aspect inside the model's input

Like Frigate's `detect: {width, height}`: the decoder scales each picture once, on the decode
thread, in the same step as its conversion to BGR, instead of a full-size picture resized later.
Everything downstream sees the decoded picture: boxes, zones, lines and motion masks are in its
pixels (docs/ARCHITECTURE.md, "Decode size"). So a zone, line or mask in pixels that lies outside
a `[width, height]` decode size is refused here, naming it (it was drawn on the full-size
picture); `normalized: true` shapes fit any size. Absent (null): the camera's own size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, ValidatorFunctionWrapHandler, WrapValidator

__all__ = ["FIT_MODEL", "MAX_SIDE", "MIN_SIDE", "DecodeSizeSetting", "decode_size_field", "decode_size_problem", "shape_outside"]

MIN_SIDE, MAX_SIDE = 32, 8192
FIT_MODEL = "model"

Side = Annotated[int, Field(ge=MIN_SIDE, le=MAX_SIDE)]


def decode_size_problem(size: tuple[int, int]) -> str | None:
    """What is wrong with a `[width, height]` decode size, or None."""
    width, height = size
    if width % 2 or height % 2:
        even = (width + width % 2, height + height % 2)
        return (
            f"decode_size [{width}, {height}]: width and height must be even (the decoder's YUV pictures are "
            f"halved for colour), e.g. [{even[0]}, {even[1]}]"
        )
    return None


def _check(value: tuple[int, int] | str | None, info: ValidationInfo) -> tuple[int, int] | str | None:
    if value is None or isinstance(value, str):
        return value
    problem = decode_size_problem(value) or shape_outside(info.data, value)
    if problem:
        raise ValueError(problem)
    return value


def _one_message(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """The union's errors (one per branch, in pydantic's words) as one sentence saying what to give."""
    try:
        return handler(value)
    except ValidationError:
        shown = repr(value) if isinstance(value, str) else str(list(value) if isinstance(value, (list, tuple)) else value)
        raise ValueError(
            f"decode_size: give [width, height], even numbers from {MIN_SIDE} to {MAX_SIDE} (e.g. [640, 360]), or "
            f"{FIT_MODEL!r} (the largest size with the camera's aspect inside the model's input); got {shown[:40]}"
        ) from None


DecodeSizeSetting = Annotated[tuple[Side, Side] | Literal["model"], WrapValidator(_one_message), AfterValidator(_check)]


def decode_size_field() -> Any:
    """The `decode_size` field of a source (declared after its zones, lines, stages and motion,
    which its check reads)."""
    return Field(
        None,
        description=f"Decode pictures at this [width, height] (even, {MIN_SIDE}..{MAX_SIDE}), scaled by the decoder with "
        "its colour conversion, or 'model': the largest size with the camera's aspect inside the model's input. "
        "Boxes, zones, lines and motion masks are then in that picture's pixels; clips stay full size (null: the "
        "camera's own size).",
    )


def shape_outside(fields: dict[str, Any], size: tuple[int, int]) -> str | None:
    """The first zone, line or motion mask of a source (its validated `fields`) given in pixels
    with a point outside a `size` (width, height) picture, as an error message; None if none."""
    width, height = size
    for what, points in _pixel_shapes(fields):
        for x, y in points:
            if not (0 <= x <= width and 0 <= y <= height):
                return (
                    f"{what} has the point [{x:g}, {y:g}] outside the {width}x{height} picture decode_size gives: zones, "
                    "lines and motion masks are in the decoded picture's pixels; scale them to it, or write them "
                    "normalized (0..1, normalized: true)"
                )
    return None


def _pixel_shapes(fields: dict[str, Any]) -> Iterator[tuple[str, Iterable[tuple[float, float]]]]:
    """(what, points) of every shape in pixels: the source's zones, lines, the zones of a
    zones stage in its stages, its motion masks."""
    stage_zones = [spec.config for spec in fields.get("stages") or () if getattr(spec, "kind", None) == "zones"]
    for holder in [fields, *(vars(config) for config in stage_zones)]:
        for zone in holder.get("zones") or ():
            if not zone.normalized:
                yield f"zone '{zone.name}'", zone.polygon
        for line in holder.get("lines") or ():
            if not line.normalized:
                yield f"line '{line.name}'", (line.start, line.end)
    motion = fields.get("motion")
    for i, mask in enumerate(motion.masks if motion is not None else ()):
        if not mask.normalized:
            yield f"motion mask {i}", mask.polygon
