"""Task helpers of the runner: feeding a source's frames to its batchers, waiting for a set of
tasks, watching the event loop's lag."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from vigil.errors import SourceError

if TYPE_CHECKING:
    from vigil.pipeline.batcher import Batcher
    from vigil.pipeline.observer import PipelineObserver
    from vigil.pipeline.report import SourceReport
    from vigil.sources.base import Source

__all__ = ["feed", "gather_or_cancel", "watch_loop_lag"]

log = logging.getLogger("vigil.pipeline.runner")


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


async def feed(
    source: Source,
    batchers: Sequence[Batcher],
    report: SourceReport,
    observer: PipelineObserver,
    first_frame: Callable[[], None],
) -> None:
    """Move `source`'s frames into the batchers of the models it runs (decoded once, to each)
    until it ends or fails; its lanes are closed either way. A failure is logged and reported,
    never raised: one source must not stop the others."""
    try:
        async for frame in source:
            first_frame()
            for batcher in batchers:
                await batcher.put(frame)
            report.frames_in += 1
            observer.frame_in(source.source_id)
    except SourceError as exc:
        log.error("%s", exc)
        report.error = str(exc)
    except Exception as exc:
        log.exception("source '%s': reading failed", source.source_id)
        report.error = f"reading failed: {exc!r}"
    finally:
        for batcher in batchers:
            await batcher.close_lane(source.source_id)
