"""`DecodingSource`: what every source kind shares, whatever decodes it.

A source kind holds a decoder (`vigil.sources.decode`, chosen by `decoder=`, `auto` by default)
and says what to open (`_spec`). This class runs the decode thread: it opens the input, reads
it through the decoder with the source's sampling (`vigil.sources._sampling`: what is decoded at
all, then `max_fps`), hands every demuxed packet to the event clips, puts each picture kept on
the capture clock (`CaptureClock`), lets the frame gates (`vigil.sources.gate`) see it before
its conversion to BGR, and hands the frames to the event loop (`Handoff`): a file source waits
while the queue is full (nothing is lost); a live source keeps only the newest frames and counts
the ones it pushes out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vigil.errors import SourceDecodeError, SourceError
from vigil.frame import Frame
from vigil.sources._clock import CaptureClock
from vigil.sources._handoff import Handoff, Stopped
from vigil.sources._sampling import Plan, Sampler
from vigil.sources._scaling import DecodeSize, Scaling
from vigil.sources.base import Source, SourceState
from vigil.sources.decode.auto import choose, fallback
from vigil.sources.decode.base import DecodeFailed, Decoder, DecoderInput, InputKind, InputSpec, PacketSink
from vigil.sources.gate import DecodedFrame, FrameGate, GateChain

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder

__all__ = ["FALLBACK_AFTER", "DecodingSource"]

log = logging.getLogger(__name__)

_END = object()
FALLBACK_AFTER = 3  # connections in a row without a picture before a hardware decoder gives way to PyAV


class DecodingSource(Source):
    input_kind: InputKind | None = None  # what decoder "auto" weighs (a capture device: read with PyAV)

    def __init__(
        self,
        source_id: str,
        *,
        queue_size: int,
        decode_threads: int = 0,
        max_fps: float | None = None,
        gates: Sequence[FrameGate] = (),
        clips: ClipRecorder | None = None,
        decoder: str | Decoder = "auto",
        decode_size: DecodeSize | tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if max_fps is not None and max_fps <= 0:
            raise ValueError(f"source '{source_id}': max_fps must be > 0, got {max_fps}")
        self.source_id = source_id
        self.decode_threads = decode_threads  # 0: the decoder picks (one per core)
        self.max_fps = max_fps
        self.gates = GateChain(gates)  # run on the decode thread, after sampling (see vigil.sources.gate)
        self.queue_size = queue_size
        self.clips = clips  # event clips: every video packet goes to it, before any sampling
        self.feeds_clips = clips is not None  # False: another input (a camera's record input) feeds them
        self.decoder_choice = choose(decoder, input_kind=self.input_kind)  # which decoder, and why
        self.decoder = self.decoder_choice.decoder
        self._plan: Plan | None = None  # the latest pass's sampling (what it demuxed)
        self.hardware_failures = 0  # connections in a row that a hardware decoder gave no picture (see _decoded_nothing)
        self.decoding: tuple[str, str | None] | None = None  # the opened stream's codec and GStreamer element
        self.scaling = Scaling(source_id, decode_size)  # the size pictures are decoded at: open with self.scaling.open
        self._handoff: Handoff | None = None
        self._capture: CaptureClock | None = None  # where capture times count from; None: at the next frame
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _spec(self) -> InputSpec:
        """What the decoder opens."""

    @abstractmethod
    def _open(self) -> DecoderInput | None:
        """Open the input on the decode thread; raise SourceOpenError with a clear message when it
        cannot. None: the kind connects later, in `_stream` (a camera, with retries)."""

    def _stream(self, opened: Any) -> None:
        """Read the opened input to its end (files override this to loop)."""
        self._clips_opened(opened)
        try:
            self._read(opened, seq=0, pts_offset=0.0)
        finally:
            self._clips_ended()

    def _decoded_nothing(self, reason: str) -> None:
        """A connection opened and failed before its first picture. With a hardware decoder that
        `auto` chose, `FALLBACK_AFTER` of these in a row switch the camera to PyAV for good (its
        `decoder_choice` says so): a stream the element cannot decode (a profile it lacks) would
        otherwise be retried with it forever. Only passes that demuxed a key frame count (a camera
        that sends nothing, rebooting, is no reason to leave the hardware). A picture decoded
        resets the count."""
        if not self.decoder_choice.hardware or self._plan is None or not self._plan.key_pts:
            return  # not a hardware decoder's, or no key frame came at all: not the decoder's fault
        self.hardware_failures += 1
        if self.hardware_failures < FALLBACK_AFTER:
            return
        element = (self.decoding or (None, None))[1] or "the hardware decoder"
        why = f"{element} failed {self.hardware_failures} times in a row on this camera ({reason})"
        self.decoder_choice = fallback(self.decoder_choice, why)
        self.decoder = self.decoder_choice.decoder
        log.warning("source '%s': %s", self.source_id, self.decoder_choice.reason)

    def _clips_opened(self, opened: DecoderInput) -> None:
        """A new stream begins (a file opened, a camera connected): the clip recorder copies its
        codec parameters while it is open."""
        if self.clips is not None and self.feeds_clips:
            self.clips.stream_opened(opened.stream_params())

    def _clips_ended(self) -> None:
        if self.clips is not None and self.feeds_clips:
            self.clips.stream_ended()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handoff = Handoff(self.queue_size, self._loop, self._stopping)
        opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(opened,), name=f"decode-{self.source_id}", daemon=True)
        self._thread.start()
        await asyncio.wrap_future(opened)

    async def stop(self) -> None:
        """Stop decoding; frames decoded but not yet taken are discarded."""
        self._stopping.set()
        if self._handoff is None:
            return
        self._handoff.clear()  # unblock a decode thread waiting for room
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        self._handoff.clear()
        self._handoff.put(_END, block=False)  # wake a reader still waiting for frames

    @property
    def queue_depth(self) -> int:
        """Frames decoded and waiting to be taken."""
        return len(self._handoff) if self._handoff is not None else 0

    async def __aiter__(self) -> AsyncIterator[Frame]:
        assert self._handoff is not None, "start() the source before iterating it"
        while True:
            item = await self._handoff.get()
            if item is _END or self._stopping.is_set():
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def _run(self, opened: concurrent.futures.Future[None]) -> None:
        try:
            input_ = self._open()
        except SourceError as exc:
            self._set_state(SourceState.FAILED, str(exc))
            opened.set_exception(exc)
            return
        if input_ is not None:  # RTSP connects (and reports streaming) on this thread later
            self._set_state(SourceState.STREAMING)
        opened.set_result(None)
        try:
            try:
                self._stream(input_)
                last: Any = _END
                self._set_state(SourceState.ENDED)
            except SourceDecodeError as exc:
                last = exc
                self._set_state(SourceState.FAILED, str(exc))
            except Stopped:
                raise
            except Exception as exc:  # noqa: BLE001 - a bug or an unexpected decoder error must not leave readers waiting
                last = SourceDecodeError(f"source '{self.source_id}': decoder thread failed: {exc!r}")
                self._set_state(SourceState.FAILED, str(last))
            self._put(last, wait=True, last=True)
        except Stopped:
            self._set_state(SourceState.ENDED, "stopped")
        finally:
            if input_ is not None:
                input_.close()

    def _read(self, opened: DecoderInput, *, seq: int, pts_offset: float, from_key: bool = False) -> tuple[int, float]:
        """Sample and decode one pass over `opened`; returns (next seq, last pts).
        `from_key`: skip packets until the first key frame (a live stream joined mid-GOP)."""
        self.decoding = (opened.info.codec, getattr(opened, "decoder_element", None))
        rate = opened.info.fps
        plan = self._plan = Plan(self.stats, self.max_fps, rate, self._stopping, from_key=from_key)
        sampler = Sampler(self.max_fps)
        fallback_rate = rate or 30.0
        pts: float | None = None
        last_pts = pts_offset
        gated = 0  # frames the gates turned away since the last one handed on
        packets: PacketSink | None = self.clips.packet if self.clips is not None and self.feeds_clips else None
        try:
            for picture in opened.frames(plan, packets, pts_offset):
                self.stats.decoded += 1
                seconds = picture.pts
                if seconds is not None:
                    pts = seconds + pts_offset
                else:  # a frame without a timestamp (e.g. before RTP timing is known) follows the last
                    pts = pts_offset if pts is None else pts + 1.0 / fallback_rate
                plan.pts = last_pts = pts
                if not sampler.accept(pts):
                    self.stats.dropped["max_fps"] += 1
                    continue
                self._pace(pts)  # before the Frame exists: its `decoded_at` is when it is released
                capture = self._capture_time(opened, pts, time.time())
                if self.gates:  # they see the picture before its conversion to BGR, which they may skip
                    view = DecodedFrame(self.source_id, seq, pts, capture, picture)
                    if (reason := self.gates.admit(view)) is not None:
                        self.stats.skipped[reason] += 1
                        gated += 1
                        continue
                    image = view.image
                else:
                    image = picture.to_bgr()
                self._emit(Frame(self.source_id, seq, pts, capture, image, skipped_before=gated))
                seq += 1
                gated = 0
        except DecodeFailed as exc:
            raise SourceDecodeError(f"source '{self.source_id}': decoding failed after {seq} frames ({exc.reason})") from exc
        return seq, last_pts

    def _capture_time(self, opened: Any, pts: float, arrival: float) -> datetime:
        """UTC time of the frame at `pts` that left the decoder at `arrival` (POSIX seconds); see
        `CaptureClock`. Sources set `_capture` to None where their clock restarts (a new
        connection)."""
        if self._capture is None:
            self._capture = CaptureClock(live=self.live)
        return self._capture.at(pts, arrival)

    def _emit(self, frame: Frame) -> None:
        self.stats.emitted += 1
        self._put(frame, wait=not self.live)

    def _pace(self, pts: float) -> None:
        """Files played in real time override this to wait for the moment of the frame at `pts`."""

    def _put(self, item: Any, *, wait: bool, last: bool = False) -> None:
        assert self._handoff is not None
        if self._stopping.is_set():
            raise Stopped
        if self._handoff.put(item, block=wait, last=last):
            self.stats.dropped["queue_full"] += 1
