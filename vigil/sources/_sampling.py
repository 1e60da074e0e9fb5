"""Sampling, the same for every decoder: what to decode before decoding, what to keep after.

When the wanted rate (`max_fps`) is at or below the stream's key-frame rate, only key-frame
packets reach the decoder (`skipped["non_key"]`); when it is at most half the frame rate, the
decoder is asked to skip non-reference frames (`skipped["non_ref"]`); what is still too frequent
is decoded and dropped (`dropped["max_fps"]`, `Sampler`). `Plan` is the source's side of
`vigil.sources.decode.base.DecodePlan`, asked by the decoder for every packet of one pass.
"""

from __future__ import annotations

import logging
import threading

from vigil.sources._handoff import Stopped
from vigil.sources.base import SourceStats

__all__ = ["Plan", "Sampler"]

log = logging.getLogger(__name__)


class Sampler:
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


class Plan:
    """One pass over an input (a file read, a connection): decides per demuxed packet whether it
    is decoded, and whether the decoder should skip non-reference frames.

    At 1 fps or less it bets on key frames (cameras send one every 1-2 s) from the start; the
    bet is checked once two key frames have been seen. Skipping non-reference frames is turned
    off again when, over its first half second, it leaves fewer frames than `max_fps` (two
    B-frames in three leave a third of the frames, below a `max_fps` of half the rate).
    `from_key`: packets wait for the first key frame (a live stream joined mid-GOP)."""

    def __init__(
        self, stats: SourceStats, max_fps: float | None, rate: float | None, stopping: threading.Event, *, from_key: bool = False
    ) -> None:
        self.stats, self.max_fps, self.rate, self._stopping = stats, max_fps, rate, stopping
        self.key_only = bool(max_fps and max_fps <= 1.0)
        self.wait_for_key = from_key
        self.skip_nonref = False
        self.key_pts: list[float] = []
        self.pts: float | None = None  # the latest decoded frame's, set by the source
        self._skipped_before = stats.skipped["non_ref"]
        self._fed = self._out = 0  # packets into and frames out of the decoder while skipping
        self._since: tuple[float, int] | None = None  # (pts, frames out) when skipping began
        self._checked = False

    def take(self, key: bool, pts: float | None, size: int) -> bool:
        if self._stopping.is_set():
            raise Stopped
        if key and pts is not None and len(self.key_pts) < 2:
            self.key_pts.append(pts)
            if len(self.key_pts) == 2 or not self.key_only:
                was_key_only, self.key_only = self.key_only, self._key_frames_suffice()
                self.wait_for_key = was_key_only and not self.key_only  # resume full decoding at a key frame
        if key:
            self.wait_for_key = False
        if (self.key_only or self.wait_for_key) and not key and size:
            self.stats.skipped["non_key"] += 1
            return False
        return True

    def _key_frames_suffice(self) -> bool:
        """Decode key frames only when they come at least `max_fps` times a second; otherwise
        let the decoder skip non-reference frames when fewer than half the frames are wanted."""
        if not self.max_fps:
            return False
        key_pts = self.key_pts
        if len(key_pts) == 2 and key_pts[1] > key_pts[0]:
            if 1.0 / (key_pts[1] - key_pts[0]) >= self.max_fps * 0.99:
                return True
        if self.rate and self.max_fps * 2 <= self.rate:
            self.skip_nonref = True
        return False

    def decoded(self, size: int, frames: int, in_flight: int) -> None:
        """Counts the frames the decoder skipped (`skipped["non_ref"]`) and checks the rate
        skipping leaves."""
        self._fed += 1 if size else 0
        self._out += frames
        if not self.skip_nonref:
            self._skipped_before, self._fed, self._out = self.stats.skipped["non_ref"], 0, 0
            return
        self.stats.skipped["non_ref"] = self._skipped_before + max(0, self._fed - self._out - in_flight)
        pts = self.pts
        if self._checked or pts is None or not self.max_fps:
            return
        if self._since is None:
            self._since = (pts, self._out)
        elif pts - self._since[0] >= 0.5:
            self._checked = True
            rate = (self._out - self._since[1]) / (pts - self._since[0])
            if rate < self.max_fps * 0.97:
                self.skip_nonref = False
                log.info(
                    "decoding every frame again: skipping non-reference frames left %.1f fps, below max_fps %g",
                    rate,
                    self.max_fps,
                )
