"""What every PyAV-backed source shares: a demux + decode thread, sampling, the hand-off.

The thread demuxes packets itself so that sampling can happen before decoding: when the wanted
rate (`max_fps`) is at or below the stream's key-frame rate, only key-frame packets reach the
decoder (`skipped["non_key"]`); when it is at most half the frame rate, the decoder skips
non-reference frames (`skipped["non_ref"]`); what is still too frequent is decoded and dropped
(`dropped["max_fps"]`). The source's frame gates (`vigil.sources.gate`) then see each frame kept,
image included, and may skip it (`skipped[reason]`). The sampler stays ahead of the gates rather
than being one: it decides on the timestamp alone, before the frame is converted to BGR.

Hand-off (`_Handoff`): a file source waits while the queue is full (nothing is lost); a live
source keeps only the newest frames and counts the ones it pushes out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from abc import abstractmethod
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import av

from vigil.errors import SourceDecodeError, SourceError
from vigil.frame import Frame
from vigil.sources._clock import CaptureClock
from vigil.sources.base import Source, SourceState
from vigil.sources.gate import DecodedFrame, FrameGate, GateChain

if TYPE_CHECKING:
    from vigil.clips import ClipRecorder

log = logging.getLogger(__name__)
_END = object()


class _Stopped(Exception):
    """Raised inside the decode thread when `stop()` was called."""


class _Sampler:
    """Keeps `max_fps` frames a second of stream time, on a schedule: a frame is kept when it
    reaches the next slot, and slots advance one interval per kept frame. Frames that come
    unevenly (a decoder skipping B-frames returns gaps of one and two frame periods) still give
    the asked rate rather than the rate of the longest gap; two kept frames are never closer than
    a quarter of an interval, and a clock that jumps (a loop, a reconnect) restarts the schedule."""

    def __init__(self, max_fps: float | None) -> None:
        self.interval = 1.0 / max_fps if max_fps else 0.0
        self.due: float | None = None  # the next slot's stream time
        self.last: float | None = None

    def accept(self, pts: float) -> bool:
        if not self.interval:
            return True
        interval = self.interval
        jumped = self.last is not None and (pts < self.last or pts - self.last > 10 * interval)
        if self.due is not None and not jumped and pts < self.due - interval * 0.01:
            return False
        # A frame late by less than an interval keeps the schedule (the next slot comes sooner);
        # later than that (a stall, a sparse stream) restarts it at this frame.
        slot = pts if self.due is None or jumped or pts - self.due >= interval else self.due
        self.due = max(slot + interval, pts + interval / 4)
        self.last = pts
        return True


class _NonRefSkipping:
    """The decoder's skipping of non-reference frames (`skip_frame = NONREF`, turned on by
    `_key_frames_suffice`): counts the frames it skipped, and turns it off again when, over its
    first half second, it leaves fewer frames than `max_fps` (two B-frames in three leave a third of
    the frames, below a `max_fps` of half the rate)."""

    def __init__(self, stats: Any, max_fps: float | None) -> None:
        self.stats, self.max_fps = stats, max_fps
        self.skipped_before = stats.skipped["non_ref"]
        self.fed_count = self.out = 0  # packets into and frames out of the decoder while skipping
        self.since: tuple[float, int] | None = None  # (pts, frames out) when skipping began
        self.checked = False

    def fed(self, packet: Any) -> None:
        self.fed_count += 1 if packet.size else 0

    def decoded(self, stream: Any, packet: Any, pts: float | None) -> None:
        """After a packet's frames left the decoder."""
        context = stream.codec_context
        if context.skip_frame != "NONREF":
            self.skipped_before, self.fed_count, self.out = self.stats.skipped["non_ref"], 0, 0
            return
        # Packets the decoder took but will never return; a few are still in its pipeline
        # (threads, reordering) until the end, when the count is exact.
        in_flight = 0 if not packet.size else max(context.thread_count, 1) + 2
        self.stats.skipped["non_ref"] = self.skipped_before + max(0, self.fed_count - self.out - in_flight)
        if self.checked or pts is None or not self.max_fps:
            return
        if self.since is None:
            self.since = (pts, self.out)
        elif pts - self.since[0] >= 0.5:
            self.checked = True
            rate = (self.out - self.since[1]) / (pts - self.since[0])
            if rate < self.max_fps * 0.97:
                context.skip_frame = "DEFAULT"
                log.info("decoding every frame again: skipping non-reference frames left %.1f fps, below "
                         "max_fps %g", rate, self.max_fps)


class _Handoff:
    """Frames from the decode thread to the event loop, at most `size` at a time.

    `put(block=True)` (files) waits while full; the waiting consumer is woken once the queue is
    full or on the last item, not per frame: a thread-to-loop wake-up per frame cost about 15%
    of decode throughput. `put(block=False)` (live) never waits: it pushes out the oldest frame,
    returns True when it did, and wakes the consumer at once.
    """

    def __init__(self, size: int, loop: asyncio.AbstractEventLoop, stopping: threading.Event) -> None:
        self.size = size
        self._loop, self._stopping = loop, stopping
        self._items: deque[Any] = deque()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any, *, block: bool, last: bool = False) -> bool:
        pushed_out = False
        with self._lock:
            if block:
                while len(self._items) >= self.size:
                    self._wake()
                    self._room.wait(0.1)
                    if self._stopping.is_set():
                        raise _Stopped
            elif len(self._items) >= self.size:
                self._items.popleft()
                pushed_out = True
            self._items.append(item)
            if not block or last or len(self._items) >= self.size:
                self._wake()
        return pushed_out

    async def get(self) -> Any:
        while True:
            with self._lock:
                if self._items:
                    self._room.notify()
                    return self._items.popleft()
                waiter = self._waiter = self._loop.create_future()
            await waiter

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._room.notify_all()

    def _wake(self) -> None:  # holding the lock
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            self._loop.call_soon_threadsafe(_resolve, waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class PyAVSource(Source):
    def __init__(
        self,
        source_id: str,
        *,
        queue_size: int,
        decode_threads: int = 0,
        max_fps: float | None = None,
        gates: Sequence[FrameGate] = (),
        clips: ClipRecorder | None = None,
    ) -> None:
        super().__init__()
        if max_fps is not None and max_fps <= 0:
            raise ValueError(f"source '{source_id}': max_fps must be > 0, got {max_fps}")
        self.source_id = source_id
        self.decode_threads = decode_threads  # 0: FFmpeg picks (one per core)
        self.max_fps = max_fps
        self.gates = GateChain(gates)  # run on the decode thread, after sampling (see vigil.sources.gate)
        self.queue_size = queue_size
        self.clips = clips  # event clips: every video packet goes to it, before any sampling
        self._handoff: _Handoff | None = None
        self._capture: CaptureClock | None = None  # where capture times count from; None: at the next frame
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _open(self) -> Any:
        """Open the container; raise SourceOpenError with a clear message when it cannot."""

    def _stream(self, container: Any) -> None:
        """Read the opened container to its end (files override this to loop)."""
        self._configure(container)
        self._clips_opened(container)
        try:
            self._read(container, seq=0, pts_offset=0.0)
        finally:
            self._clips_ended()

    def _clips_opened(self, container: Any) -> None:
        """A new stream begins (a file opened, a camera connected): the clip recorder copies its
        codec parameters while it is open."""
        if self.clips is not None:
            self.clips.stream_opened(container.streams.video[0])

    def _clips_ended(self) -> None:
        if self.clips is not None:
            self.clips.stream_ended()

    def _configure(self, container: Any) -> None:
        """Decoder settings; only possible before the first packet opens the codec."""
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.decode_threads

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handoff = _Handoff(self.queue_size, self._loop, self._stopping)
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
            container = self._open()
        except SourceError as exc:
            self._set_state(SourceState.FAILED, str(exc))
            opened.set_exception(exc)
            return
        if container is not None:  # RTSP connects (and reports streaming) on this thread later
            self._set_state(SourceState.STREAMING)
        opened.set_result(None)
        try:
            try:
                self._stream(container)
                last: Any = _END
                self._set_state(SourceState.ENDED)
            except SourceDecodeError as exc:
                last = exc
                self._set_state(SourceState.FAILED, str(exc))
            except _Stopped:
                raise
            except Exception as exc:  # a bug or an unexpected PyAV error must not leave readers waiting
                last = SourceDecodeError(f"source '{self.source_id}': decoder thread failed: {exc!r}")
                self._set_state(SourceState.FAILED, str(last))
            self._put(last, wait=True, last=True)
        except _Stopped:
            self._set_state(SourceState.ENDED, "stopped")
        finally:
            if container is not None:
                container.close()

    def _read(
        self, container: Any, *, seq: int, pts_offset: float, from_key: bool = False
    ) -> tuple[int, float]:
        """Demux, sample and decode one pass over `container`; returns (next seq, last pts).
        `from_key`: skip packets until the first key frame (a live stream joined mid-GOP)."""
        stream = container.streams.video[0]
        sampler, key_pts = _Sampler(self.max_fps), list[float]()
        # At 1 fps or less, bet on key frames (cameras send one every 1-2 s) from the start; the
        # bet is checked once two key frames have been seen.
        key_only = bool(self.max_fps and self.max_fps <= 1.0)
        wait_for_key = from_key
        pts: float | None = None
        last_pts = pts_offset
        fallback_rate = float(stream.average_rate or 30)
        nonref = _NonRefSkipping(self.stats, self.max_fps)
        clips = self.clips
        gated = 0  # frames the gates turned away since the last one handed on
        try:
            for packet in container.demux(stream):
                if self._stopping.is_set():
                    raise _Stopped
                if clips is not None:
                    clips.packet(packet, pts_offset)
                if packet.is_keyframe and packet.pts is not None and packet.time_base is not None and len(key_pts) < 2:
                    key_pts.append(float(packet.pts * packet.time_base))
                    if len(key_pts) == 2 or not key_only:
                        was_key_only, key_only = key_only, self._key_frames_suffice(key_pts, stream)
                        wait_for_key = was_key_only and not key_only  # resume full decoding at a key frame
                if packet.is_keyframe:
                    wait_for_key = False
                if (key_only or wait_for_key) and not packet.is_keyframe and packet.size:
                    self.stats.skipped["non_key"] += 1
                    continue
                nonref.fed(packet)
                for frame in packet.decode():
                    self.stats.decoded += 1
                    nonref.out += 1
                    seconds = frame.time  # pts x time_base as a float, without Fraction arithmetic
                    if seconds is not None:
                        pts = seconds + pts_offset
                    else:  # a frame without a timestamp (e.g. before RTP timing is known) follows the last
                        pts = pts_offset if pts is None else pts + 1.0 / fallback_rate
                    last_pts = pts
                    if not sampler.accept(pts):
                        self.stats.dropped["max_fps"] += 1
                        continue
                    self._pace(pts)  # before the Frame exists: its `decoded_at` is when it is released
                    capture = self._capture_time(container, pts, time.time())
                    if self.gates:  # they see the picture before its conversion to BGR, which they may skip
                        view = DecodedFrame(self.source_id, seq, pts, capture, frame)
                        if (reason := self.gates.admit(view)) is not None:
                            self.stats.skipped[reason] += 1
                            gated += 1
                            continue
                        image = view.image
                    else:
                        image = frame.to_ndarray(format="bgr24")
                    self._emit(Frame(self.source_id, seq, pts, capture, image, skipped_before=gated))
                    seq += 1
                    gated = 0
                nonref.decoded(stream, packet, pts)
        except av.FFmpegError as exc:
            raise SourceDecodeError(
                f"source '{self.source_id}': decoding failed after {seq} frames ({exc.strerror or exc})"
            ) from exc
        return seq, last_pts

    def _capture_time(self, container: Any, pts: float, arrival: float) -> datetime:
        """UTC time of the frame at `pts` that left the decoder at `arrival` (POSIX seconds); see
        `CaptureClock`. Sources set `_capture` to None where their clock restarts (a new
        connection)."""
        if self._capture is None:
            self._capture = CaptureClock(live=self.live)
        return self._capture.at(pts, arrival)

    def _key_frames_suffice(self, key_pts: list[float], stream: Any) -> bool:
        """Decode key frames only when they come at least `max_fps` times a second; otherwise
        let the decoder skip non-reference frames when fewer than half the frames are wanted."""
        if not self.max_fps:
            return False
        rate = float(stream.average_rate or 0)
        if len(key_pts) == 2 and key_pts[1] > key_pts[0]:
            if 1.0 / (key_pts[1] - key_pts[0]) >= self.max_fps * 0.99:
                return True
        if rate and self.max_fps * 2 <= rate:
            stream.codec_context.skip_frame = "NONREF"
        return False

    def _emit(self, frame: Frame) -> None:
        self.stats.emitted += 1
        self._put(frame, wait=not self.live)

    def _pace(self, pts: float) -> None:
        """Files played in real time override this to wait for the moment of the frame at `pts`."""

    def _put(self, item: Any, *, wait: bool, last: bool = False) -> None:
        assert self._handoff is not None
        if self._stopping.is_set():
            raise _Stopped
        if self._handoff.put(item, block=wait, last=last):
            self.stats.dropped["queue_full"] += 1


def sleep_until(deadline: float, stopping: threading.Event) -> None:
    delay = deadline - time.monotonic()
    if delay > 0 and stopping.wait(delay):
        raise _Stopped
