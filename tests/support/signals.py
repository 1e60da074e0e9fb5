"""A fixture for tests that send the test process SIGINT, SIGTERM or SIGHUP."""

from __future__ import annotations

import signal

import pytest


@pytest.fixture
def own_handlers():
    """Python handlers of our own on the three signals (a signal that reached one would be
    recorded, not kill the test run), put back as they were after the test."""
    reached: list[int] = []
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    handler = lambda number, frame: reached.append(number)  # noqa: E731
    for sig in saved:
        signal.signal(sig, handler)
    yield handler, reached
    for sig, before in saved.items():
        signal.signal(sig, before)
