"""Task helpers of the runner."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["gather_or_cancel", "watch_loop_lag"]


async def gather_or_cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for every task; if one raises, cancel the rest and re-raise its error."""
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        raise
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def watch_loop_lag(report: Callable[[float], None], interval: float = 0.1) -> None:
    """Report how late the loop runs a timer: the time callbacks wait behind blocking work."""
    while True:
        t0 = time.monotonic()
        await asyncio.sleep(interval)
        report(max(0.0, time.monotonic() - t0 - interval))
