"""Task helpers of the runner."""

from __future__ import annotations

import asyncio

__all__ = ["gather_or_cancel"]


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
