"""The webhook's retry waits: backoff that starts over when the receiver answers again, probes
that cut a long wait short, `Retry-After` obeyed as given, probes ignored once they mislead."""

from __future__ import annotations

import time

from vigil.sinks._delivery import Reply, Retrier, RetryTimings
from vigil.sinks._http import Backoff

SILENT = Reply(None, "ConnectionRefusedError")
BUSY = Reply(503, "HTTP 503 Service Unavailable")
OK = Reply(200, "ok")


class Probe:
    """A probe whose answer the test sets; counts its calls."""

    def __init__(self, up: bool = False) -> None:
        self.up = up
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        return self.up


def retrier(probe: Probe, **timings: float) -> Retrier:
    settings = {"probe_after_s": 0.2, "probe_interval_s": 0.05, **timings}
    return Retrier(RetryTimings(Backoff(initial_s=0.5, max_s=30.0), **settings), probe)


def test_the_backoff_starts_over_when_the_receiver_answers_after_silence():
    r = retrier(Probe())
    for _ in range(6):
        r.record(SILENT)
    assert r.attempt == 6 and 8.0 <= r.delay(SILENT) <= 16.0
    r.record(BUSY)  # it answers again, if only with a 503: what the backoff grew on is over
    assert r.attempt == 1 and r.delay(BUSY) <= 0.5
    r.record(BUSY)
    assert r.attempt == 2  # a receiver that keeps refusing is backed off from as usual
    r.record(OK)
    assert r.attempt == 0 and r.failing_for() is None


def test_delivery_failing_since_the_first_failure_in_a_row():
    r = retrier(Probe())
    r.record(SILENT)
    first = r.failing_since
    r.record(BUSY)
    assert r.failing_since == first and r.last_failure == BUSY
    r.record(Reply(400, "HTTP 400"))  # refused for good: the receiver works, delivery goes on
    assert r.failing_since is None


async def test_a_probe_that_finds_the_receiver_up_ends_a_long_wait():
    probe = Probe(up=True)
    r = retrier(probe)
    t0 = time.monotonic()
    await r.wait(10.0, SILENT)
    assert time.monotonic() - t0 < 0.5 and probe.calls == 1


async def test_short_waits_and_retry_after_are_not_probed():
    probe = Probe(up=True)
    r = retrier(probe)
    await r.wait(0.15, SILENT)  # not longer than probe_after_s
    throttled = Reply(429, "HTTP 429", retry_after="1")
    assert r.delay(throttled) == 1.0
    t0 = time.monotonic()
    await r.wait(0.3, Reply(503, "HTTP 503", retry_after="0"))  # the receiver said when: no probe
    assert time.monotonic() - t0 >= 0.29 and probe.calls == 0


async def test_probes_that_mislead_stop_shortening_waits_until_the_next_delivery():
    probe = Probe(up=True)  # a HEAD answered while every POST gets 503
    r = retrier(probe)
    r.record(BUSY)
    await r.wait(5.0, BUSY)
    assert probe.calls == 1
    r.record(BUSY)  # the POST right after the probe said "up" was refused again
    t0 = time.monotonic()
    await r.wait(0.4, BUSY)
    assert time.monotonic() - t0 >= 0.39 and probe.calls == 1
    r.record(OK)
    r.record(BUSY)
    await r.wait(5.0, BUSY)
    assert probe.calls == 2  # trusted again after a delivery
