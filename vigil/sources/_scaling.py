"""A source's decode size (`sources[].decode_size`, `vigil.config.decode_size`): what it asks its
decoder to scale pictures to (`InputSpec.output_size`), and the warnings about it.

`DecodeSize(640, 360)` is that size whatever the camera sends; `DecodeSize(640, 640, fit=True)`
is a box (a model's input): the largest size with the camera's aspect inside it, even sides,
known once the input is open. The first time a fitted source opens its input, `Scaling.open`
opens it at its own size, reads the stream's size, and opens it again at the fitted size (files
and cameras alike); afterwards it opens at the size it found, and again twice only when the
camera's picture size changed.

A fixed size with another aspect than the camera's stretches the picture, and a size larger
than the camera's only costs CPU: either is logged once (WARNING) for each picture size the
camera sends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vigil.config.decode_size import FIT_MODEL, shape_outside
from vigil.errors import ConfigError
from vigil.sources.decode.base import Decoder, DecoderInput, InputSpec

if TYPE_CHECKING:
    from vigil.config.sources import SourceConfig

__all__ = ["DecodeSize", "Scaling", "decode_size_of", "fit_inside"]

log = logging.getLogger("vigil.sources")

ASPECT_TOLERANCE = 0.02  # relative difference of width/height ratios that is not a stretch (1080 -> 360 rounding)


@dataclass(frozen=True)
class DecodeSize:
    """Pictures decoded at `width` x `height`, or with `fit` inside that box with the camera's aspect."""

    width: int
    height: int
    fit: bool = False

    def __post_init__(self) -> None:
        if self.width < 2 or self.height < 2:
            raise ValueError(f"a decode size is at least 2x2, got {self.width}x{self.height}")

    def describe(self) -> str:
        return f"fit inside {self.width}x{self.height}" if self.fit else f"{self.width}x{self.height}"

    def for_stream(self, stream: tuple[int, int]) -> tuple[int, int]:
        """The size pictures of a `stream` (width, height) are decoded at."""
        return fit_inside(stream, (self.width, self.height)) if self.fit else (self.width, self.height)


def fit_inside(stream: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The largest (width, height) with `stream`'s aspect inside `box`, both even (at least 2)."""
    (sw, sh), (bw, bh) = stream, box
    scale = min(bw / sw, bh / sh)
    width, height = min(bw, round(sw * scale)), min(bh, round(sh * scale))
    return max(2, width - width % 2), max(2, height - height % 2)


class Scaling:
    """One source's decode size at work: `open` a decoder's input with the right `output_size`."""

    def __init__(self, source_id: str, size: DecodeSize | tuple[int, int] | None) -> None:
        self.source_id = source_id
        self.size = DecodeSize(*size) if isinstance(size, tuple) else size
        self.stream: tuple[int, int] | None = None  # the camera's picture size at the last open
        self._warned: set[tuple[int, int]] = set()

    @property
    def output_size(self) -> tuple[int, int] | None:
        """What the decoder is asked for now: None without a decode size, or when it fits a
        stream not seen yet (then the input is opened at its own size first)."""
        if self.size is None:
            return None
        if self.size.fit and self.stream is None:
            return None
        return self.size.for_stream(self.stream) if self.stream is not None else (self.size.width, self.size.height)

    def open(self, decoder: Decoder, spec: InputSpec) -> DecoderInput:
        """`decoder.open(spec)` with the decode size as `output_size`; raises what `open` raises."""
        if self.size is None:
            return decoder.open(spec)
        asked = self.output_size
        opened = decoder.open(replace(spec, output_size=asked))
        stream = (opened.info.width, opened.info.height)
        if min(stream) <= 0:  # the input does not say its size: keep what was asked
            return opened
        self.stream = stream
        wanted = self.size.for_stream(stream)
        self._warn(stream, wanted)
        if asked == wanted:
            return opened
        opened.close()  # a fitted size not known before this input's size was
        log.info("source '%s': decoding %dx%d pictures at %dx%d (%s)", self.source_id, *stream, *wanted, self.size.describe())
        return decoder.open(replace(spec, output_size=wanted))

    def _warn(self, stream: tuple[int, int], wanted: tuple[int, int]) -> None:
        if stream in self._warned:
            return
        self._warned.add(stream)
        (sw, sh), (w, h) = stream, wanted
        if abs((w / h) / (sw / sh) - 1) > ASPECT_TOLERANCE:
            keep = fit_inside(stream, wanted)
            log.warning(
                "source '%s': decode_size %dx%d stretches the camera's %dx%d picture (aspect %.2f, not %.2f); boxes, "
                "zones and snapshots are in the stretched picture; give [%d, %d] to keep its shape",
                self.source_id,
                w,
                h,
                sw,
                sh,
                w / h,
                sw / sh,
                *keep,
            )
        if w > sw or h > sh:
            log.warning(
                "source '%s': decode_size %dx%d is larger than the camera's %dx%d picture: it is upscaled, which costs "
                "CPU and adds no detail; give a smaller size or none",
                self.source_id,
                w,
                h,
                sw,
                sh,
            )


def decode_size_of(config: SourceConfig, model_input: tuple[int, int] | None) -> DecodeSize | None:
    """The decode size of a `sources:` entry: its `decode_size`, with `model` the box of its
    primary model's input (`model_input`, width and height, known once the model is loaded).
    Raises `ConfigError` when `model` is asked and the input is not known, or when a zone, line
    or mask in pixels lies outside that box."""
    size = config.decode_size
    if size is None:
        return None
    if size != FIT_MODEL:
        return DecodeSize(*size)
    if model_input is None:
        raise ConfigError(
            f"source '{config.name}': decode_size: model needs the size of the camera's model input, which its model "
            "does not give (it takes any size); give decode_size: [width, height]"
        )
    fields = {"zones": config.zones, "lines": config.lines, "stages": config.stages, "motion": config.motion}
    problem = shape_outside(fields, model_input)
    if problem:
        raise ConfigError(f"source '{config.name}': decode_size: model fits pictures inside the model's input: {problem}")
    return DecodeSize(*model_input, fit=True)
