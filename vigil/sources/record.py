"""A camera's record input: its main stream, demuxed and never decoded, feeding the event clips.

A camera configured with `inputs:` (vigil.config.inputs) detects on one stream (usually the
substream) and records another (the main stream). The detect input is the camera's `RTSPSource`;
the record input is a `RecordInput`, a second reader with its own thread, connection, reconnects
and backoff (the same policy and jitter), built on the same decoder protocol: its decode plan
never `take`s a packet, so the decoder only demuxes, and every packet goes to the clip recorder
as it is. Each packet's capture time comes from the input's own `CaptureClock` (the camera's
RTCP clock when it sends sender reports, arrival otherwise); the recorder is told the offset
(capture time minus PTS) and cuts the clips by capture time, so an object seen on the detect
input's clock gets the record input's packets of the same moment.

One input failing leaves the other running: the record input reconnects on its own while the
camera detects, and the clip ring keeps the main stream while detection reconnects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vigil.errors import SourceDecodeError
from vigil.sources._handoff import Stopped
from vigil.sources.decode.base import DecodeFailed, DecoderInput
from vigil.sources.rtsp import RTSPSource

if TYPE_CHECKING:
    import threading

    from vigil.clips import ClipRecorder
    from vigil.packet import Packet

__all__ = ["RecordInput"]

OFFSET_STEP_S = 0.0005  # the recorder hears of a new capture offset when it moved this much


class _DemuxOnly:
    """A decode plan that takes nothing: the decoder demuxes and hands packets on, never decodes."""

    skip_nonref = False

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping

    def take(self, key: bool, pts: float | None, size: int) -> bool:
        if self._stopping.is_set():
            raise Stopped
        return False

    def decoded(self, size: int, frames: int, in_flight: int) -> None:  # never called: nothing is decoded
        pass


@dataclass
class _Pass:
    """One connection's reading: packets seen and the last capture offset told to the recorder."""

    opened: DecoderInput
    packets: int = 0
    told: float | None = None


class RecordInput(RTSPSource):
    """The record input of camera `camera` (`vigil.sources.record`): `RTSPSource`'s connecting,
    reconnecting, stall detection, capture clock and reporting, with a demux-only read. Its id in
    logs is `CAMERA/record`; `index` is its place in the camera's `inputs:`."""

    def __init__(self, camera: str, url: str, *, clips: ClipRecorder, index: int, **options: Any) -> None:
        options.setdefault("decoder", "pyav")  # demuxing only: FFmpeg's demuxer, whatever decodes the detect input
        super().__init__(f"{camera}/record", url, clips=clips, queue_size=1, **options)
        self.camera, self.index = camera, index
        self.packets = 0  # demuxed and handed to the clips, over every connection

    def _read(self, opened: DecoderInput, *, seq: int, pts_offset: float, from_key: bool = False) -> tuple[int, float]:
        """Demux one connection to its end; returns (seq plus the packets read, 0.0): a
        connection that gave packets starts the backoff afresh, as frames do for detection."""
        reading = _Pass(opened)
        try:
            for _ in opened.frames(_DemuxOnly(self._stopping), lambda packet: self._packet(reading, packet), pts_offset):
                pass  # nothing is decoded, nothing comes out
        except DecodeFailed as exc:
            raise SourceDecodeError(
                f"source '{self.source_id}': demuxing failed after {reading.packets} packets ({exc.reason})"
            ) from exc
        return seq + reading.packets, 0.0

    def _packet(self, reading: _Pass, packet: Packet) -> None:
        assert self.clips is not None
        # DTS rises packet by packet (PTS does not, with B-frames): the clock follows it, and
        # capture time minus timestamp is the same offset on either.
        self._capture_time(reading.opened, packet.dts, time.time())
        offset = self._capture.offset if self._capture is not None else None
        if offset is not None and (reading.told is None or abs(offset - reading.told) >= OFFSET_STEP_S):
            self.clips.capture_offset(offset)
            reading.told = offset
        reading.packets += 1
        self.packets += 1
        self.clips.packet(packet)
