"""`Packet` and `StreamParams`: encoded video as it crosses from a decoder to the event clips.

Neutral on purpose: a decoder (PyAV today, GStreamer next) copies its demuxed packets into these,
and the clip writer remuxes them; neither side sees the other's objects. Times are seconds on the
clock of `Frame.pts` (the packet's own time plus the source's offset, e.g. a looping file's).
This module imports nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Packet", "StreamParams"]


@dataclass(frozen=True, slots=True)
class StreamParams:
    """What a muxer needs to hold a stream's packets without decoding them: the codec (FFmpeg's
    name: `h264`, `hevc`, `mjpeg`...), the picture size and pixel format, the codec's own header
    (`extradata`: H.264's SPS/PPS as avcC or Annex B, H.265's hvcC ...), the time base the
    packets were stamped in and the frame rate when the input says it. Colour fields use
    FFmpeg's enum values (0 or 2: unspecified)."""

    codec: str
    width: int
    height: int
    time_base: Fraction
    pix_fmt: str | None = None
    extradata: bytes | None = None
    fps: float | None = None
    profile: str | None = None
    level: int | None = None
    color_range: int = 0
    color_primaries: int = 2
    color_trc: int = 2
    colorspace: int = 2
    sample_aspect_ratio: Fraction | None = None
    bit_rate: int = 0  # bits a second, when the input says (0: unknown)


@dataclass(frozen=True, slots=True)
class Packet:
    """One encoded video packet, copied off the demuxer: its bytes, its presentation and
    decoding times and duration in seconds (see the module docstring), and whether it is a key
    frame (a point a decoder can start from)."""

    data: bytes
    pts: float
    dts: float
    key: bool
    duration: float = 0.0
