"""`FakeDecoder`: a decoder with no decoding library, for testing the decoder protocol.

It "decodes" synthetic pictures made in memory: picture `i` is a flat BGR image whose pixels all
hold `i % 256` (so a test can tell which picture a frame came from), at `pts = i / fps` seconds,
a key frame every `gop` pictures. It follows the protocol as a real decoder must: it asks the
plan about every packet before "decoding" it, hands every packet to the clips first (as a
neutral `Packet` whose bytes are the picture number), honours `skip_nonref` by skipping the
pictures it marks non-reference (every odd one between key frames), and records what it was
asked, so tests can check the source's side.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from vigil.packet import Packet, StreamParams
from vigil.sources.decode.base import DecodeFailed, DecodePlan, InputSpec, NoVideoStream, OpenFailed, PacketSink, StreamInfo

__all__ = ["FakeDecoder", "FakePicture"]


class FakePicture:
    def __init__(self, n: int, pts: float | None, key: bool, size: tuple[int, int]) -> None:
        self.n, self.pts, self.key = n, pts, key
        self.width, self.height = size
        self.conversions = 0  # to_bgr calls

    def to_bgr(self) -> np.ndarray:
        self.conversions += 1
        return np.full((self.height, self.width, 3), self.n % 256, np.uint8)

    def luma(self) -> np.ndarray:
        return np.full((self.height, self.width), self.n % 256, np.uint8)


@dataclass
class FakeDecoder:
    """`frames` pictures per input at `fps`; `fail_open` (an `OpenFailed` reason, or "no video")
    fails the first `fail_times` opens, and after `streams` inputs every open fails; `fail_at` raises `DecodeFailed` at that picture;
    `wallclock_origin` is what the input reports as the camera's clock."""

    frames: int = 30
    fps: float | None = 10.0
    gop: int = 10
    size: tuple[int, int] = (64, 48)
    fail_open: str | None = None
    fail_times: int = 1_000_000
    fail_at: int | None = None
    streams: int | None = None  # how many opens succeed in all (then: OpenFailed "gone")
    wallclock_origin: float | None = None
    name: str = "fake"
    specs: list[InputSpec] = field(default_factory=list)  # every open, in order
    inputs: list[FakeInput] = field(default_factory=list)

    def open(self, spec: InputSpec) -> FakeInput:
        self.specs.append(spec)
        if self.fail_open is not None and len(self.specs) <= self.fail_times:
            if self.fail_open == "no video":
                raise NoVideoStream("audio")
            raise OpenFailed(self.fail_open)
        if self.streams is not None and len(self.inputs) >= self.streams:
            raise OpenFailed("gone")
        opened = FakeInput(self)
        self.inputs.append(opened)
        return opened


class FakeInput:
    def __init__(self, decoder: FakeDecoder) -> None:
        self.decoder = decoder
        self.info = StreamInfo(
            "fake",
            *decoder.size,
            Fraction(1, 1000),
            decoder.fps,
            decoder.frames,
            decoder.frames / decoder.fps if decoder.fps else None,
        )
        self.wallclock_origin = decoder.wallclock_origin
        self.taken: list[int] = []  # pictures the plan let through, per `frames` call appended
        self.hints: list[bool] = []  # skip_nonref as seen at each packet decoded
        self.pictures: list[FakePicture] = []
        self.rewinds = self.closed = 0

    def stream_params(self) -> StreamParams:
        return StreamParams("fake", *self.decoder.size, Fraction(1, 1000), fps=self.decoder.fps)

    def frames(self, plan: DecodePlan, packets: PacketSink | None, pts_offset: float) -> Iterator[FakePicture]:
        d = self.decoder
        rate = d.fps or 10.0
        for n in range(d.frames):
            key = n % d.gop == 0
            pts = n / rate if d.fps else None
            taken = plan.take(key, pts, 1)
            if packets is not None:
                at = (pts or 0.0) + pts_offset
                packets(Packet(n.to_bytes(4, "big"), at, at, key, 1 / rate))
            if not taken:
                continue
            if n == d.fail_at:
                raise DecodeFailed("a broken picture")
            self.taken.append(n)
            self.hints.append(plan.skip_nonref)
            skipped = plan.skip_nonref and not key and n % 2 == 1
            out = 0 if skipped else 1
            if out:
                picture = FakePicture(n, pts, key, d.size)
                self.pictures.append(picture)
                yield picture
            plan.decoded(1, out, 0)

    def rewind(self) -> None:
        self.rewinds += 1

    def close(self) -> None:
        self.closed += 1
