"""The decoder protocol: what a source kind asks of the library that demuxes and decodes its video.

A source kind (`FileSource`, `RTSPSource`, `WebcamSource`) holds a `Decoder` and keeps for itself
what every decoder shares: the decode thread, reconnects and backoff, capture times, sampling
policy, frame gates and the hand-off to the event loop (`vigil.sources._decoding`). A decoder only
opens an input and turns it into pictures:

    decoder = choose("auto").decoder                      # vigil.sources.decode.auto
    opened = decoder.open(InputSpec(kind="file", location="/abs/clip.mp4"))  # OpenFailed, NoVideoStream
    opened.info                                           # StreamInfo(codec, width, height, fps, time_base ...)
    for picture in opened.frames(plan, packets, pts_offset=0.0):   # DecodeFailed part-way
        picture.pts, picture.key, picture.to_bgr()
    opened.close()

Sampling happens before decoding, so the decoder asks the source's `DecodePlan` about each
demuxed packet (`take`: decode it, or skip it when only key frames are wanted) and follows its
`skip_nonref` hint where it can. Every demuxed packet goes to `packets` (the event clips), copied
into the neutral `vigil.packet.Packet`, before any sampling. A decoder that cannot follow a hint
decodes anyway: the source's own sampler drops what is still too frequent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, Protocol

import numpy as np

from vigil.packet import Packet, StreamParams

__all__ = [
    "DecodeFailed",
    "DecodePlan",
    "Decoder",
    "DecoderInput",
    "InputSpec",
    "NoVideoStream",
    "OpenFailed",
    "Packet",
    "PacketSink",
    "Picture",
    "StreamInfo",
    "StreamParams",
]

InputKind = Literal["file", "rtsp", "device"]
PacketSink = Callable[[Packet], None]


class OpenFailed(Exception):
    """The input could not be opened; `reason` is the library's own words (the source kind
    words the message the user sees, with what to do)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoVideoStream(OpenFailed):
    """The input opened but holds no video; `reason` lists what it holds ("audio", "no streams")."""


class DecodeFailed(Exception):
    """Demuxing or decoding failed part-way; `reason` is the library's own words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class InputSpec:
    """What to open, in terms any decoder understands.

    `kind`: "file" (`location` an absolute path to a regular file), "rtsp" (an rtsp:// or
    rtsps:// URL, `transport` tcp or udp) or "device" (a capture device `location` read with
    `driver`, FFmpeg's input format name such as "video4linux2", or "lavfi" for a synthetic
    camera described by `location`, with optional `size`, `fps` and `input_format`).
    `open_timeout_s` / `read_timeout_s` bound network waits; `threads` is the number of decoding
    threads (0: the decoder picks). `output_size` (width, height): the decoder scales every
    picture to it with its own scaler, in the same step as the colour conversion (None: the
    stream's own size); `Picture.width/height` are then that size."""

    kind: InputKind
    location: str
    transport: str = "tcp"
    driver: str | None = None
    size: tuple[int, int] | None = None
    fps: float | None = None
    input_format: str | None = None
    open_timeout_s: float | None = None
    read_timeout_s: float | None = None
    threads: int = 0
    output_size: tuple[int, int] | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # decoder-specific options, passed as they are


@dataclass(frozen=True)
class StreamInfo:
    """The opened video stream: `fps` its average frame rate when the input says it, `frames`
    its frame count from the container's index, `duration_s` its length (a file's)."""

    codec: str
    width: int
    height: int
    time_base: Fraction
    fps: float | None = None
    frames: int | None = None
    duration_s: float | None = None


class Picture(Protocol):
    """One decoded picture, before it becomes a `vigil.frame.Frame`: `pts` in seconds on the
    stream's clock (None when the input gave none), whether it was a key frame, and its pixels on
    demand: BGR (`to_bgr`, a conversion) or the luma plane when the decoder has one (`luma`, a
    view, no conversion; None otherwise)."""

    @property
    def pts(self) -> float | None: ...

    @property
    def key(self) -> bool: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    def to_bgr(self) -> np.ndarray: ...

    def luma(self) -> np.ndarray | None: ...


class DecodePlan(Protocol):
    """The source's sampling, asked by the decoder for every demuxed packet (see the module
    docstring). `take` may raise to stop reading (the source was stopped)."""

    skip_nonref: bool  # hint: let the decoder skip non-reference frames

    def take(self, key: bool, pts: float | None, size: int) -> bool:
        """Whether to decode the packet (`pts` in stream seconds, `size` 0 for a flush packet)."""
        ...

    def decoded(self, size: int, frames: int, in_flight: int) -> None:
        """After a packet was decoded: it gave `frames` pictures, and the decoder may still hold
        up to `in_flight` packets (threads, reordering) that it will return later."""
        ...


class DecoderInput(Protocol):
    """One opened input (a file, a connection): read it once with `frames`, rewind a file to
    read it again, close it when done (from the thread that reads it)."""

    info: StreamInfo

    def stream_params(self) -> StreamParams:
        """The stream's codec parameters for the clips, copied now (the input may close first)."""
        ...

    def frames(self, plan: DecodePlan, packets: PacketSink | None, pts_offset: float) -> Iterator[Picture]:
        """Decoded pictures in display order, to the end of the input; `packets` gets every
        demuxed packet with `pts_offset` added to its times. Raises `DecodeFailed`."""
        ...

    def rewind(self) -> None:
        """Back to the start (files), ready for another `frames`."""
        ...

    @property
    def wallclock_origin(self) -> float | None:
        """The UTC time (POSIX seconds) of PTS 0 on the camera's clock, once the input knows it
        (RTSP: an RTCP sender report); None otherwise."""
        ...

    def close(self) -> None: ...


class Decoder(Protocol):
    """A way to decode: `name` as `decoder:` would name it, `open` an input (raises
    `OpenFailed`, `NoVideoStream`)."""

    name: str

    def open(self, spec: InputSpec) -> DecoderInput: ...
