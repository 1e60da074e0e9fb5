"""Capture times of live frames (`CaptureClock`, `RTSPSource._capture_time`) on synthetic arrivals:
a camera whose first frames FFmpeg hands over in a burst after connecting, then one every 1/30 s."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from vigil.sources import RTSPSource
from vigil.sources._clock import CaptureClock

FPS = 30
T0 = 1_767_225_600.0  # when the camera captured the first frame (POSIX s)
PTS0 = 5.0  # the stream's PTS of that frame
DELAY = 0.3  # capture to arrival: network, jitter buffer, decoder


def arrivals(n: int, *, burst: int = 20, jitter: float = 0.02, seed: int = 1) -> list[tuple[float, float]]:
    """(pts, arrival) of `n` frames: the first `burst` arrive within 10 ms when the last of them is
    due (FFmpeg buffered them while probing the stream), the rest in real time with jitter."""
    rng = random.Random(seed)
    due = T0 + (burst - 1) / FPS + DELAY
    out = []
    for i in range(n):
        arrival = due + i * 0.010 / burst if i < burst else T0 + i / FPS + DELAY + rng.uniform(0, jitter)
        out.append((PTS0 + i / FPS, arrival))
    return out


def seconds(t: datetime) -> float:
    return t.timestamp()


def camera_source() -> tuple[RTSPSource, SimpleNamespace]:
    return RTSPSource("cam", "rtsp://viewer:s3cret@127.0.0.1:1/live"), SimpleNamespace(wallclock_origin=None)


def assert_sound(frames: list[tuple[float, float]], captures: list[datetime]) -> None:
    """Never after arrival, strictly increasing, and never held back: each capture advances by at
    least half the PTS step, or is its frame's arrival (frames of a burst arrive closer together)."""
    for (pts, arrival), capture in zip(frames, captures):
        assert seconds(capture) <= arrival + 1e-6, f"pts {pts}: captured {seconds(capture) - arrival:+.6f}s after arrival"
    for (p0, _), (p1, a1), c0, c1 in zip(frames, frames[1:], captures, captures[1:]):
        assert c1 > c0, f"pts {p1}: capture did not advance"
        at_arrival = seconds(c1) == pytest.approx(a1, abs=1e-6)
        assert at_arrival or (c1 - c0).total_seconds() >= (p1 - p0) / 2 - 1e-6, f"pts {p1}: capture advanced {c1 - c0}"


def test_a_burst_after_connect_is_never_captured_after_it_arrived():
    frames = arrivals(150)
    clock = CaptureClock(live=True)
    captures = [clock.at(pts, arrival) for pts, arrival in frames]
    assert_sound(frames, captures)
    # Once real-time frames flow, the estimate sits at the fastest delivery seen: within the jitter.
    ages = [arrival - seconds(c) for (_, arrival), c in zip(frames[20:], captures[20:])]
    assert 0 <= min(ages) and max(ages) <= 0.02 + 1e-6
    assert clock.nudged == 0


@pytest.mark.parametrize(
    ("camera_error", "converges_to"),
    [
        (0.0, "camera"),  # camera and host agree: frames were captured DELAY before arrival
        (-2.0, "camera"),  # camera 2 s behind: reached at half speed, no jump back, no freeze
        (0.2, "camera"),  # ahead of the true capture but still before arrival
        (1.5, "arrival"),  # ahead of arrival: held at arrival
    ],
)
def test_camera_clock_takes_over_without_jumping_back_freezing_or_passing_arrival(camera_error, converges_to):
    frames = arrivals(300)
    source, container = camera_source()
    captures = []
    for i, (pts, arrival) in enumerate(frames):
        if i == 45:  # an RTCP sender report arrived: FFmpeg now knows the UTC time of PTS 0
            container.wallclock_origin = T0 - PTS0 + camera_error
        captures.append(source._capture_time(container, pts, arrival))
    assert source.capture_clock == "camera"
    assert_sound(frames, captures)
    pts, arrival = frames[-1]
    if converges_to == "camera":
        assert seconds(captures[-1]) == pytest.approx(T0 - PTS0 + camera_error + pts, abs=1e-6)
    else:
        assert 0 <= arrival - seconds(captures[-1]) <= 0.02 + 1e-6


def test_a_camera_clock_far_behind_is_not_followed(caplog):
    frames = arrivals(100)
    source, container = camera_source()
    reference = CaptureClock(live=True)
    container.wallclock_origin = T0 - PTS0 - 3600  # an hour behind: never set up
    with caplog.at_level(logging.INFO):
        captures = [source._capture_time(container, pts, arrival) for pts, arrival in frames]
    assert source.capture_clock == "arrival"
    assert captures == [reference.at(pts, arrival) for pts, arrival in frames]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "clock is 3600.9s behind" in caplog.text and "set up NTP" in caplog.text  # + the burst's 0.9 s


def test_a_camera_pts_clock_slower_than_the_host_does_not_leave_capture_times_behind():
    """500 ppm slow: after 20 minutes the first-frame offset would be 0.6 s old."""
    rng, clock = random.Random(2), CaptureClock(live=True)
    for i in range(12_000):  # 10 fps
        arrival = T0 + i / 10 + DELAY + rng.uniform(0, 0.02)
        capture = clock.at(PTS0 + i / 10 * (1 - 500e-6), arrival)
    assert 0 <= arrival - seconds(capture) < 0.05


def test_pts_that_repeats_or_goes_back_and_a_host_clock_stepping_back_still_increase():
    clock = CaptureClock(live=True)
    steps = [(1.0, T0), (1.0, T0 + 0.01), (0.5, T0 + 0.02), (0.6, T0 - 5.0), (0.7, T0 - 4.9)]
    captures = [clock.at(pts, arrival) for pts, arrival in steps]
    assert all(b > a for a, b in zip(captures, captures[1:]))
    assert seconds(captures[-1]) == pytest.approx(T0 - 4.9)  # re-anchored on the stepped clock: after it
    assert clock.nudged == 2  # the repeated PTS and the first frame after the step


def test_a_file_read_as_fast_as_possible_keeps_the_stream_spacing():
    clock = CaptureClock(live=False)
    captures = [clock.at(i / 25, T0 + i * 0.001) for i in range(50)]
    assert captures[0] == datetime.fromtimestamp(T0, timezone.utc)
    assert all(abs((b - a).total_seconds() - 1 / 25) <= 1e-6 for a, b in zip(captures, captures[1:]))
