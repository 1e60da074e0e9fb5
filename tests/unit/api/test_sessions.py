"""The console's sessions (`vigil.api.sessions`): random, server-side, ended by idleness,
by age, by signing out and by the cap on live ones."""

from __future__ import annotations

import pytest

from vigil.api.sessions import Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_every_sign_in_is_a_new_random_id(clock: Clock) -> None:
    sessions = Sessions(idle_s=60, max_age_s=3600, limit=10, clock=clock)
    ids = {sessions.start() for _ in range(5)}
    assert len(ids) == 5 and all(len(i) >= 40 for i in ids)
    assert all(sessions.valid(i) for i in ids)
    assert not sessions.valid("not-a-session") and not sessions.valid("") and not sessions.valid("x" * 10_000)


def test_a_session_ends_after_its_idle_time_and_use_restarts_it(clock: Clock) -> None:
    sessions = Sessions(idle_s=60, max_age_s=3600, limit=10, clock=clock)
    used, idle = sessions.start(), sessions.start()
    clock.now += 50
    assert sessions.valid(used)
    clock.now += 50  # 100 s after the start, 50 s after the last use
    assert sessions.valid(used) and not sessions.valid(idle)
    assert not sessions.valid(idle)  # and it stays ended


def test_a_session_ends_at_its_age_limit_however_used(clock: Clock) -> None:
    sessions = Sessions(idle_s=60, max_age_s=300, limit=10, clock=clock)
    session = sessions.start()
    for _ in range(5):
        clock.now += 59
        assert sessions.valid(session)
    clock.now += 59  # 354 s old
    assert not sessions.valid(session)


def test_signing_out_ends_the_session_at_once(clock: Clock) -> None:
    sessions = Sessions(idle_s=60, max_age_s=300, limit=10, clock=clock)
    session, other = sessions.start(), sessions.start()
    sessions.end(session)
    assert not sessions.valid(session) and sessions.valid(other)
    sessions.end("never-was")  # nothing to end: no error


def test_beyond_the_cap_a_new_sign_in_ends_the_oldest(clock: Clock) -> None:
    sessions = Sessions(idle_s=60, max_age_s=300, limit=3, clock=clock)
    first, second, third = sessions.start(), sessions.start(), sessions.start()
    fourth = sessions.start()
    assert len(sessions) == 3
    assert not sessions.valid(first) and all(sessions.valid(s) for s in (second, third, fourth))


def test_expired_sessions_leave_room_before_live_ones_are_evicted(clock: Clock) -> None:
    sessions = Sessions(idle_s=60, max_age_s=300, limit=2, clock=clock)
    stale = sessions.start()
    clock.now += 30
    live = sessions.start()
    clock.now += 40  # stale idle 70 s: ended; live idle 40 s
    newest = sessions.start()
    assert sessions.valid(live) and sessions.valid(newest) and not sessions.valid(stale)


@pytest.mark.parametrize(("idle", "age", "limit"), [(0, 10, 1), (10, 0, 1), (10, 10, 0)])
def test_nonsense_bounds_are_refused(idle: float, age: float, limit: int) -> None:
    with pytest.raises(ValueError, match="Sessions needs"):
        Sessions(idle_s=idle, max_age_s=age, limit=limit)
