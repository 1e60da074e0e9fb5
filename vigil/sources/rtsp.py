"""RTSP cameras: TCP by default, timeouts, stall detection and reconnects with backoff."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vigil import redact
from vigil.errors import SourceDecodeError, SourceOpenError
from vigil.sources._clock import CaptureClock
from vigil.sources._decoding import DecodingSource
from vigil.sources._handoff import Stopped
from vigil.sources._scaling import DecodeSize
from vigil.sources.base import SourceState
from vigil.sources.decode.base import Decoder, DecoderInput, InputSpec, NoVideoStream, OpenFailed
from vigil.sources.gate import FrameGate

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder
    from vigil.sources.record import RecordInput

__all__ = ["InputStatus", "ReconnectPolicy", "RTSPSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff with jitter between attempts; `max_attempts=None` never gives up."""

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    max_attempts: int | None = None

    def delay(self, attempt: int) -> float:
        base = min(self.max_s, self.initial_s * self.multiplier ** max(attempt - 1, 0))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class InputStatus:
    """One input of a camera as `/api/v1/streams` and the metrics show it: its place in
    `inputs:` (None for `url:`), roles, URL (credentials masked), state, the error that made it
    reconnect (masked), connection attempts and connections made, and the wait before the next
    attempt while it reconnects."""

    index: int | None
    roles: tuple[str, ...]
    url: str
    state: SourceState
    last_error: str | None = None
    attempts: int = 0
    connections: int = 0
    retry_in_s: float | None = None
    packets: int | None = field(default=None, compare=False)  # a record input's, demuxed
    clock: str = "arrival"  # where its capture times come from: "camera" (RTCP sender reports) or "arrival"


CAMERA_CLOCK_MAX_BEHIND_S = 10.0  # more than network, buffering and decoding delay together
FAILURE_WARNING_EVERY_S = 60.0  # while a camera stays unreachable


class RTSPSource(DecodingSource):
    """A camera. Live: the newest frames are kept when downstream is slow. The source never
    fails on a network problem: it reports `reconnecting` and tries again with backoff, and a
    stream that delivers no frame for `stall_timeout_s` is reconnected. Decoding restarts at a
    key frame after every (re)connection. An outage is logged at WARNING when it starts, when its
    error changes and once a minute while it lasts (each attempt at DEBUG). The password in the
    URL never reaches a log line, error message or state report.

    `record`: the camera's record input (`vigil.sources.record.RecordInput`, another stream
    that feeds `clips`), started and stopped with it; this source then decodes only (it is the
    detect input, `input_index` in the camera's `inputs:`)."""

    live = True

    def __init__(
        self,
        source_id: str,
        url: str,
        *,
        transport: str = "tcp",
        open_timeout_s: float = 10.0,
        stall_timeout_s: float = 10.0,
        reconnect: ReconnectPolicy | None = None,
        queue_size: int = 2,
        max_fps: float | None = None,
        decode_threads: int = 0,
        gates: Sequence[FrameGate] = (),
        clips: ClipRecorder | None = None,
        decoder: str | Decoder = "auto",
        decode_size: DecodeSize | tuple[int, int] | None = None,
        record: RecordInput | None = None,
        input_index: int | None = None,
    ) -> None:
        super().__init__(
            source_id,
            queue_size=queue_size,
            decode_threads=decode_threads,
            max_fps=max_fps,
            gates=gates,
            clips=clips,
            decoder=decoder,
            decode_size=decode_size,
        )
        if transport not in ("tcp", "udp"):
            raise ValueError(f"source '{source_id}': transport must be 'tcp' or 'udp', got {transport!r}")
        self.url, self.transport = url, transport
        self.open_timeout_s, self.stall_timeout_s = open_timeout_s, stall_timeout_s
        self.reconnect = reconnect or ReconnectPolicy()
        self.attempts = self.connections = 0
        self.last_error: str | None = None
        self.retry_in_s: float | None = None  # the wait before the next attempt, while reconnecting
        self.record, self.input_index = record, input_index
        if record is not None:
            self.feeds_clips = False  # the record input does
        self._camera_clock: bool | None = None  # None until the decoder has the camera's clock, then whether it is used
        self._warned: tuple[float, str] | None = None  # (monotonic time, error) of the last warning of an outage

    def _spec(self) -> InputSpec:
        return InputSpec(
            "rtsp",
            self.url,
            transport=self.transport,
            open_timeout_s=self.open_timeout_s,
            read_timeout_s=self.stall_timeout_s,
            threads=self.decode_threads,
        )

    def _open(self) -> None:
        return None  # connecting happens on the thread, with retries; start() never fails on it

    def _connect(self) -> DecoderInput:
        try:
            return self.scaling.open(self.decoder, self._spec())
        except NoVideoStream:
            raise SourceDecodeError(f"source '{self.source_id}': {redact.mask_url(self.url)} has no video stream") from None
        except OpenFailed as exc:
            raise SourceOpenError(
                f"source '{self.source_id}': cannot open {redact.mask_url(self.url)} ({redact.mask_url(exc.reason)})"
            ) from exc

    def _stream(self, opened: Any) -> None:
        seq, attempt = 0, 0
        policy = self.reconnect
        while not self._stopping.is_set():
            attempt += 1
            self.attempts += 1
            try:
                opened = self._connect()
            except (SourceOpenError, SourceDecodeError) as exc:
                self._retry_later(str(exc), attempt)
                continue
            try:
                self.connections += 1
                self.retry_in_s = None
                self._set_state(SourceState.STREAMING)
                self._capture, self._camera_clock = None, None
                before = seq
                self._clips_opened(opened)  # a new connection: a new stream for the clips
                try:
                    seq, _ = self._read(opened, seq=seq, pts_offset=0.0, from_key=True)
                finally:
                    self._clips_ended()
                if seq > before:
                    attempt = 0  # frames flowed: the next failure starts the backoff afresh
                    self.hardware_failures = 0
                else:
                    self._decoded_nothing("the stream ended or stalled before its first picture")
                self._retry_later(f"source '{self.source_id}': stream ended or stalled", attempt)
            except SourceDecodeError as exc:
                if seq == before:
                    self._decoded_nothing(str(exc))
                self._retry_later(str(exc), attempt)
            finally:
                opened.close()
            if policy.max_attempts is not None and attempt >= policy.max_attempts:
                raise SourceDecodeError(f"source '{self.source_id}': gave up after {attempt} attempts ({self.last_error})")
        raise Stopped

    async def start(self) -> None:
        await super().start()
        if self.record is not None:  # after detection: a camera that cannot start records nothing
            await self.record.start()

    async def stop(self) -> None:
        try:
            if self.record is not None:
                await self.record.stop()
        finally:
            await super().stop()

    @property
    def inputs(self) -> list[InputStatus]:
        """This camera's inputs: the detect input (this source), then its record input if any."""
        roles = ("detect", "record") if self.record is None and self.clips is not None else ("detect",)
        found = [self._status(self.input_index, roles)]
        if self.record is not None:
            found.append(self.record._status(self.record.index, ("record",), packets=self.record.packets))
        return found

    def _status(self, index: int | None, roles: tuple[str, ...], packets: int | None = None) -> InputStatus:
        waiting = self.retry_in_s if self.state is SourceState.RECONNECTING else None
        return InputStatus(
            index,
            roles,
            redact.mask_url(self.url),
            self.state,
            self.last_error,
            self.attempts,
            self.connections,
            waiting,
            packets,
            self.capture_clock,
        )

    @property
    def capture_clock(self) -> str:
        """Where capture times come from on this connection: "camera" (RTCP/NTP) or "arrival"."""
        return "camera" if self._camera_clock else "arrival"

    def _capture_time(self, opened: Any, pts: float, arrival: float) -> datetime:
        """Arrival times (`CaptureClock`) until the decoder has the camera's clock from an RTCP
        sender report (`wallclock_origin`: the UTC time of PTS 0), then the camera's, reached
        without capture times going back, freezing or passing arrival. A camera clock more than
        `CAMERA_CLOCK_MAX_BEHIND_S` behind this host's is wrong rather than slow: it is not used
        (following it would take twice that long)."""
        if self._camera_clock is None:
            origin = opened.wallclock_origin
            if origin:
                self._camera_clock = self._judge_camera_clock(origin + pts - arrival)
                if self._camera_clock:
                    self._capture = self._capture or CaptureClock(live=True)
                    self._capture.follow(origin)
        return super()._capture_time(opened, pts, arrival)

    def _judge_camera_clock(self, skew: float) -> bool:
        """Whether to follow a camera clock that puts the current frame `skew` seconds after its
        arrival (negative: before, as it should be)."""
        if skew < -CAMERA_CLOCK_MAX_BEHIND_S:
            log.warning(
                "source '%s': the camera's clock is %.1fs behind this host's, more than any delay explains; "
                "capture times stay on arrival; set up NTP on the camera",
                self.source_id,
                -skew,
            )
            return False
        ahead = skew > 1.0
        (log.warning if ahead else log.info)(
            "source '%s': capture times from the camera's clock, which puts this frame %+.3fs from its arrival%s",
            self.source_id,
            skew,
            "; it is ahead of this host's, so capture times are held at arrival: set up NTP on the camera" if ahead else "",
        )
        return True

    def _retry_later(self, error: str, attempt: int) -> None:
        self.last_error = redact.mask_url(error)
        if self._stopping.is_set():
            raise Stopped
        delay = self.retry_in_s = self.reconnect.delay(max(attempt, 1))
        detail = f"{self.last_error}; retrying in {delay:.1f}s"
        level = self._failure_level(self.last_error)
        if self.state is SourceState.RECONNECTING:
            log.log(level, "source '%s': still reconnecting, attempt %d failed (%s)", self.source_id, attempt, detail)
        else:
            self._set_state(SourceState.RECONNECTING, detail, level=level)
        if self._stopping.wait(delay):
            raise Stopped

    def _failure_level(self, error: str) -> int:
        """WARNING for the first failure of an outage, for a different error and at most once a
        minute while it lasts; DEBUG for the attempts in between: a dead camera is never silent
        and never floods the log."""
        now = time.monotonic()
        if (
            self.state is not SourceState.RECONNECTING
            or self._warned is None
            or self._warned[1] != error
            or now - self._warned[0] >= FAILURE_WARNING_EVERY_S
        ):
            self._warned = (now, error)
            return logging.WARNING
        return logging.DEBUG
