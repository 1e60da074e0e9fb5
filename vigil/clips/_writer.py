"""The writer thread's side of a `ClipRecorder`: the ring, the clips being written, their ends."""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.clips._mp4 import MUX_ERRORS, ClipFile, StreamTemplate
from vigil.clips._ring import PacketRing
from vigil.errors import SinkError
from vigil.packet import Packet
from vigil.sinks.faults import Faults
from vigil.sinks.files import make_dirs

if TYPE_CHECKING:
    from vigil.config.clips import ClipsConfig

__all__ = ["ClipWriter"]

log = logging.getLogger(__name__)
_FAILURES: tuple[type[BaseException], ...] = (*MUX_ERRORS, SinkError)


class _Open:
    """A clip being written: its file, the packets held back from it (`pending`), and once its
    object ended, the time its packets stop."""

    def __init__(self, tracker_id: int, file: ClipFile) -> None:
        self.tracker_id, self.file = tracker_id, file
        self.pending: deque[Packet] = deque()
        self.cutoff: float | None = None
        self.last_dts = self.max_pts = float("-inf")
        self.started = False  # it has had its key frame


class ClipWriter:
    """Handles the recorder's messages in order, on its writer thread only.

    A clip's packets are written `hold_s` behind the newest one: the object's end is known only
    once the zones stage has missed it for `lost_s` (and the pipeline has caught up), and by then
    the packets after `post_roll_s` are still held, not written, so the clip ends where it should.
    The held packets are the ring's own (shared, not copied)."""

    def __init__(self, config: ClipsConfig, *, keep_s: float, max_bytes: int, hold_s: float = 0.0, name: str = "clips") -> None:
        self.config = config
        # Clips that failed to be written, by reason (`disk_full` ...), and the fault going on
        # now; each new clip is tried again, so clips come back by themselves with the space.
        self.faults = Faults(name, label="clips of source", logger=log)
        self.ring = PacketRing(keep_s, max_bytes)
        self.hold_s = hold_s
        self._newest_dts = float("-inf")
        self.written = self.errors = 0
        self._template: StreamTemplate | None = None
        self._streaming = False
        self._clips: dict[int, _Open] = {}
        self._flushes: list[threading.Event] = []
        # Clips cut by capture time (a camera's record input): its offset, capture time minus
        # PTS in POSIX seconds, as of the packets handled so far; None before its first packet.
        self.offset: float | None = None
        self.comment: str | None = None  # put into each clip's header (ClipFile)

    @property
    def idle(self) -> bool:
        return not self._streaming and not self._clips and not self._flushes

    def handle(self, kind: str, item: Any) -> int:
        """Act on one message; the number of clips that were finished (or failed) by it."""
        if kind == "packet":
            finished = self._packet(item)
        elif kind == "offset":
            finished, self.offset = 0, item
        elif kind == "open":
            finished = self._open(*item)
        elif kind == "close":
            finished = self._close(*item)
        elif kind == "stream":
            finished = self._finish_all()
            self.ring.clear()
            if self._template is not None:
                self._template.close()
            self._template, self._streaming, self.offset = item, True, None
        elif kind == "end":
            finished, self._streaming = self._finish_all(), False
        else:  # "flush"
            finished = 0
            self._flushes.append(item)
        if self._flushes and not any(clip.cutoff is not None for clip in self._clips.values()):
            for done in self._flushes:
                done.set()
            self._flushes.clear()
        return finished

    def _packet(self, packet: Packet) -> int:
        self.ring.add(packet)
        self._newest_dts = max(self._newest_dts, packet.dts)
        finished = 0
        for clip in list(self._clips.values()):
            clip.pending.append(packet)
            finished += self._drain(clip)
        return finished

    def _drain(self, clip: _Open, *, everything: bool = False) -> int:
        """Write the clip's held packets older than `hold_s` (all of them once its object has
        ended, up to its cutoff, or with `everything`); 1 when the cutoff was reached and the
        clip finished, else 0."""
        written: list[Packet] = []
        while clip.pending:
            packet = clip.pending[0]
            # Past the cutoff, B-frames still come that show before the last reference frame
            # taken (which they need anyway); the first packet beyond both ends the clip.
            if (
                clip.cutoff is not None
                and packet.dts > clip.cutoff
                and packet.pts >= max(clip.max_pts, max((p.pts for p in written), default=float("-inf")))
            ):
                if self._add(clip, written):
                    return 1
                clip.pending.clear()
                return self._finish(clip)
            if clip.cutoff is None and not everything and packet.dts > self._newest_dts - self.hold_s:
                break
            written.append(clip.pending.popleft())
        return self._add(clip, written)

    def _open(self, tracker_id: int, path: Path, start_pts: float | None, start_time: float | None = None) -> int:
        """`start_pts` on the packets' clock, or None and `start_time` (capture time, POSIX s)."""
        if start_pts is None and self.offset is not None and start_time is not None:
            start_pts = start_time - self.offset
        if self._template is None or start_pts is None:  # no stream yet, or one an MP4 cannot hold (warned at its start)
            log.debug("clip %s: no stream to cut it from; the object gets no clip", path)
            self.errors += 1
            return 1
        try:
            make_dirs(path.parent)
            clip = self._clips[tracker_id] = _Open(tracker_id, ClipFile(path, self._template, self.comment))
        except _FAILURES as exc:
            self._failed(path, exc)
            return 1
        clip.pending.extend(self.ring.since(start_pts - self.config.pre_roll_s, until=start_pts))
        finished = self._drain(clip)
        if not finished and not self._streaming:  # the stream ended before the object was known
            finished = self._finish(clip)
        return finished

    def _close(self, tracker_id: int, end_pts: float | None, end_time: float | None = None) -> int:
        """`end_pts` on the packets' clock, or None and `end_time` (capture time, POSIX s)."""
        clip = self._clips.get(tracker_id)
        if end_pts is None and self.offset is not None and end_time is not None:
            end_pts = end_time - self.offset
        if clip is None or end_pts is None:
            return 0
        clip.cutoff = end_pts + self.config.post_roll_s
        if self._drain(clip):
            return 1
        return 0 if self._streaming else self._finish(clip)

    def _add(self, clip: _Open, packets: list[Packet]) -> int:
        try:
            for packet in packets:
                if not clip.started and not packet.key:
                    continue  # nothing decodes before a key frame
                clip.started = True
                clip.file.add(packet, self.offset)
                clip.last_dts, clip.max_pts = packet.dts, max(clip.max_pts, packet.pts)
        except _FAILURES as exc:
            self._clips.pop(clip.tracker_id, None)
            clip.file.abandon()
            self._failed(clip.file.path, exc)
            return 1
        return 0

    def _finish(self, clip: _Open) -> int:
        if clip.pending:  # the stream ended (or a new one began): what was held goes in, up to the cutoff
            if self._drain(clip, everything=True):
                return 1
        if clip.tracker_id not in self._clips:
            return 0  # finished (or failed) while draining
        self._clips.pop(clip.tracker_id, None)
        if not clip.started:  # not one key frame: an empty file is no clip
            clip.file.abandon()
            Path(str(clip.file.path) + ".partial").unlink(missing_ok=True)
            log.warning("clip %s: the stream gave no key frame while the object was seen; no clip", clip.file.path)
            self.errors += 1
            return 1
        try:
            clip.file.finish()
        except _FAILURES as exc:
            self._failed(clip.file.path, exc)
            return 1
        self.written += 1
        self.faults.recovered()
        log.debug("clip %s: finished, %d packets", clip.file.path, clip.file.packets)
        return 1

    def _finish_all(self) -> int:
        return sum(self._finish(clip) for clip in list(self._clips.values()))

    def _failed(self, path: Path, exc: BaseException) -> None:
        """A clip lost: counted by the fault's reason and reported (at most every 30 s per reason)."""
        self.errors += 1
        self.faults.dropped(self.faults.failed(exc, path).reason)
