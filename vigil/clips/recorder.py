"""`ClipRecorder`: a camera's event clips, remuxed from its own packets (docs/OUTPUT.md, "Clips").

Three threads meet here. The decode thread hands in every video packet in a neutral form
(`stream_opened` with the stream's `vigil.packet.StreamParams`, `packet` with a
`vigil.packet.Packet`, `stream_ended`); the zones stage opens a clip when an object starts and
closes it when it ends (`open`, `close`, `flush`); a writer thread of the recorder's own, started when there is
work and gone when there is none, keeps the pre-roll ring and writes the clips. They talk through
one queue, in order, so the writer alone owns the ring and the files. Packets wait in that queue
up to a bound in bytes; a packet that finds it full is dropped (counted in `errors`) and so is
every packet after it until a key frame, so a clip skips a stretch instead of holding garbage.

    clips = ClipRecorder("gate", ClipsConfig(directory="/var/lib/vigil/clips"))
    path = clips.open(7, start_pts=frame.pts, start_time=frame.capture_time)  # None: too busy
    clips.close(7, end_pts=last.pts, end_time=last.capture_time)

A camera that records another input than the one it detects on (`inputs:`, the record input of
`vigil.sources.record`) calls `from_input` once: the clips are then cut by capture time (the
record input tells its clock with `capture_offset`), since the two inputs' PTS share no clock,
and each clip says which input it came from (`origin`, in the events and the MP4's comment).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vigil.clips._mp4 import MUX_ERRORS, StreamTemplate
from vigil.clips._writer import ClipWriter
from vigil.config.clips import ClipsConfig
from vigil.packet import Packet, StreamParams
from vigil.sinks.base import SinkHealth

__all__ = ["ClipRecorder", "ClipStats"]

log = logging.getLogger(__name__)

# How far behind the decode thread the zones stage may learn that an object started: its
# `min_seen_s` plus batching and the hand-off queues. The ring keeps this much beyond pre-roll.
LAG_MARGIN_S = 5.0
QUEUE_SHARE = 4  # the packet queue holds at most buffer_mb / QUEUE_SHARE


@dataclass(frozen=True, slots=True)
class ClipStats:
    """`written`: clips finished; `skipped_busy`: objects that got no clip (`max_open` clips
    were being written); `bytes_buffered`: encoded video held for pre-roll and in the queue;
    `errors`: clips that failed and packets dropped; `dropped_by_reason`: clips lost by why
    (`disk_full`, `too_many_open_files` ..., as the sinks' `vigil_sink_dropped_total`) and
    packets dropped from a full queue (`queue_full`)."""

    written: int
    skipped_busy: int
    bytes_buffered: int
    errors: int
    dropped_by_reason: Mapping[str, int] = field(default_factory=dict)


class ClipRecorder:
    """One camera's clips: one recorder per source with `sources[].clips`, given to its source
    (packets in) and to its zones stage (objects' starts and ends)."""

    def __init__(self, source: str, config: ClipsConfig) -> None:
        self.source, self.config = source, config
        self.directory = Path(config.directory)
        max_bytes = int(config.buffer_mb * 1024 * 1024)
        self._queue_limit = max(1 << 20, max_bytes // QUEUE_SHARE)
        self._writer = ClipWriter(
            config, keep_s=config.pre_roll_s + LAG_MARGIN_S, max_bytes=max_bytes, hold_s=LAG_MARGIN_S, name=source
        )
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._queued_bytes = 0
        self._gap = False  # a packet was dropped: drop until the next key frame
        self._clippable = True  # the current stream can go into an MP4
        self._active = 0  # clips opened and not yet finished
        self.skipped_busy = 0
        self.dropped_packets = 0
        self.origin: dict[str, Any] | None = None  # the input clips come from (`from_input`)
        self._by_capture_time = False
        self._detect_offsets: dict[int, float] = {}  # tracker -> capture time minus PTS at its start

    def from_input(self, index: int, url: str, *, separate: bool) -> None:
        """The clips come from input `index` of the camera's `inputs:` (`url` with its
        credentials masked); `separate`: another input than the detect input, so clips are cut
        by capture time. Call before the source starts."""
        self.origin = {"input": "record", "index": index, "url": url}
        self._by_capture_time = separate
        self._writer.comment = f"vigil clip of source {self.source}: input {index} (record), {url}"

    # -- the decode thread ------------------------------------------------------------------

    def stream_opened(self, params: StreamParams) -> None:
        """A new stream (a file opened, a camera connected), with its codec parameters (copied by
        the decoder while the stream was open). Clips still being written are finished here."""
        self._gap = False
        try:
            template: StreamTemplate | None = StreamTemplate(params)
        except MUX_ERRORS as exc:  # a codec MP4 cannot hold (a webcam's raw video)
            template = None
            log.warning(
                "source '%s': no clips of this stream: its %s video cannot go into an MP4 as it is (%s); "
                "clips need H.264 or H.265 from the camera",
                self.source,
                params.codec,
                exc,
            )
        self._clippable = template is not None
        self._put("stream", template)

    def packet(self, packet: Packet) -> None:
        """One demuxed video packet, before any sampling, in the neutral form the decoder copied
        it into (times in seconds like `Frame.pts`)."""
        if self._gap and not packet.key:
            self.dropped_packets += 1
            return
        size = len(packet.data)
        with self._lock:
            full = self._queued_bytes + size > self._queue_limit
            if not full:
                self._queued_bytes += size
        if full:
            self._gap = True
            self.dropped_packets += 1
            return
        self._gap = False
        self._put("packet", packet)

    def capture_offset(self, offset: float) -> None:
        """The record input's capture clock from the next packet on: capture time = PTS +
        `offset` (POSIX seconds)."""
        self._put("offset", offset)

    def stream_ended(self) -> None:
        """The stream ended (or the source stopped): clips are finished with what there is."""
        self._put("end", None)

    # -- the zones stage --------------------------------------------------------------------

    def open(self, tracker_id: int, *, start_pts: float, start_time: datetime) -> str | None:
        """Start the clip of object `tracker_id`, first seen at `start_pts` (capture time
        `start_time`); its path (written once the object has ended and post-roll is covered),
        or None when `max_open` clips are being written (or the stream cannot be clipped)."""
        if not self._clippable:
            return None
        with self._lock:
            if self._active >= self.config.max_open:
                self.skipped_busy += 1
                return None
            self._active += 1
        path = self._path(tracker_id, start_time)
        if self._by_capture_time:
            self._detect_offsets[tracker_id] = start_time.timestamp() - start_pts
            self._put("open", (tracker_id, path, None, start_time.timestamp()))
        else:
            self._put("open", (tracker_id, path, start_pts))
        return str(path)

    def close(self, tracker_id: int, *, end_pts: float, end_time: datetime | None = None) -> None:
        """Object `tracker_id` was last seen at `end_pts` (capture time `end_time`): its clip
        ends `post_roll_s` later."""
        if not self._by_capture_time:
            self._put("close", (tracker_id, end_pts))
            return
        offset = self._detect_offsets.pop(tracker_id, None)
        if end_time is not None:
            self._put("close", (tracker_id, None, end_time.timestamp()))
        elif offset is not None:  # the detect input's clock as it was at the object's start
            self._put("close", (tracker_id, None, end_pts + offset))

    def flush(self, timeout_s: float) -> bool:
        """Wait until every clip closed so far is written (or the stream ended); False when
        `timeout_s` passed first. Blocks: call it from a worker thread."""
        done = threading.Event()
        self._put("flush", done)
        return done.wait(timeout_s)

    def stats(self) -> ClipStats:
        with self._lock:
            queued = self._queued_bytes
        w = self._writer
        reasons = {**w.faults.dropped_by_reason, "queue_full": self.dropped_packets}
        return ClipStats(w.written, self.skipped_busy, w.ring.bytes + queued, w.errors + self.dropped_packets, reasons)

    def health(self) -> SinkHealth:
        """Not ok while clips fail to be written (a full disk ...), until one is written again."""
        return self._writer.faults.health() or SinkHealth()

    # -- the writer thread ------------------------------------------------------------------

    def _put(self, kind: str, item: Any) -> None:
        with self._lock:
            self._queue.put((kind, item))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"clips-{self.source}", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                kind, item = self._queue.get(timeout=1.0)
            except queue.Empty:
                with self._lock:  # exit only when nothing was put meanwhile; `_put` starts a new one
                    if self._queue.empty() and self._writer.idle:
                        self._thread = None
                        return
                continue
            if kind == "packet":
                with self._lock:
                    self._queued_bytes -= len(item.data)
            try:
                finished = self._writer.handle(kind, item)
            except Exception:  # a bug must not leave the recorder without a writer (flush would hang)
                log.exception("source '%s': the clip writer failed on %s", self.source, kind)
                self._writer.errors += 1
                finished = 0
            if finished:
                with self._lock:
                    self._active -= finished

    def _path(self, tracker_id: int, start_time: datetime) -> Path:
        """`{directory}/{source}/{YYYY-MM-DD}/{source}_{UTC start}_{tracker_id}.mp4`, unused."""
        name = _safe(self.source)
        utc = start_time.astimezone(timezone.utc)
        folder = self.directory / name / f"{utc:%Y-%m-%d}"
        stamp = f"{utc:%Y%m%dT%H%M%S}.{utc.microsecond // 1000:03d}Z"  # as the picture sinks name files
        stem, n = f"{name}_{stamp}_{tracker_id}", 2
        path = folder / f"{stem}.mp4"
        while path.exists() or path.with_name(path.name + ".partial").exists():  # a restart reuses ids
            path, n = folder / f"{stem}_{n}.mp4", n + 1
        return path


def _safe(source: str) -> str:
    """A configured source name is safe already; one from the Python API must not leave `directory`."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", source).lstrip(".") or "source"
