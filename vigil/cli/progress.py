"""A progress line on the terminal during `vigil run --model M --source FILE ...`: frames done
per source, frames/s and, when every source's length is known, an ETA.

    vigil: 42%|████▏     | 101/240 [00:03<00:04, 30.20 frames/s, astronaut 83/120, coffee 18/120]

The counts come from `PipelineObserver` hooks: a dict increment per result, nothing else on the
hot path. The line is redrawn by an event-loop timer a few times a second. Log lines written
meanwhile go through a handler that clears the line, writes the record and draws the line
again, so neither garbles the other.

Shown only to a person at a terminal (`progress_wanted`): stderr is a TTY, logs are not JSON,
and neither systemd nor CI runs the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from vigil.pipeline.observer import PipelineObserver
from vigil.result import InferenceResult

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["Progress", "progress_wanted"]

REFRESH_S = 0.25
_NOT_CI = ("", "0", "false", "no")


def progress_wanted(stream: TextIO, log_format: str | None, environ: Mapping[str, str]) -> bool:
    """Whether to draw a progress line on `stream`: only when it is a terminal, the log format is
    not JSON, and neither systemd (`JOURNAL_STREAM`, `INVOCATION_ID`) nor CI (`CI`) runs us."""
    if log_format == "json":
        return False
    if environ.get("JOURNAL_STREAM") or environ.get("INVOCATION_ID"):
        return False
    if environ.get("CI", "").strip().lower() not in _NOT_CI:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress(PipelineObserver):
    """Observer and display. Use it as a context manager on the event loop around the run:

    progress = Progress(sys.stderr)
    pipeline = Pipeline(model, sources, sinks, observer=progress)
    with progress:
        await pipeline.run()
    """

    def __init__(self, stream: TextIO, refresh_s: float = REFRESH_S) -> None:
        self._stream = stream
        self._refresh_s = refresh_s
        self._done: dict[str, int] = {}
        self._totals: dict[str, int | None] = {}
        self._bar: tqdm[Any] | None = None  # drawn first a moment after the first source started
        self._timer: asyncio.TimerHandle | None = None
        self._handlers: list[tuple[int, logging.Handler]] = []  # (index in root.handlers, the original)
        self._closed = False

    def source_started(self, source_id: str, expected_frames: int | None) -> None:
        self._totals[source_id] = expected_frames
        self._done.setdefault(source_id, 0)
        if self._timer is None and not self._closed:  # first drawn a tick later, with every source started with it
            self._timer = asyncio.get_running_loop().call_later(self._refresh_s, self._tick)

    def result(self, result: InferenceResult) -> None:
        source_id = result.frame.source_id
        self._done[source_id] = self._done.get(source_id, 0) + 1

    def __enter__(self) -> Progress:
        root = logging.getLogger()
        for index, handler in enumerate(root.handlers):
            if isinstance(handler, logging.StreamHandler) and handler.stream is self._stream:
                self._handlers.append((index, handler))
                root.handlers[index] = _ClearingHandler(handler, self._stream)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Draw the final counts and leave them on screen; log lines go straight out again."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._draw()
        if self._bar is not None:
            self._bar.close()
        root = logging.getLogger()
        for index, original in self._handlers:
            if index < len(root.handlers) and isinstance(root.handlers[index], _ClearingHandler):
                root.handlers[index] = original
        self._handlers.clear()

    def _tick(self) -> None:
        if self._closed:
            return
        self._draw()
        self._timer = asyncio.get_running_loop().call_later(self._refresh_s, self._tick)

    def _draw(self) -> None:
        if not self._totals:
            return
        totals = list(self._totals.values())
        total = None if None in totals else sum(t for t in totals if t is not None)
        postfix = ", ".join(self._describe(s) for s in self._done)
        done = sum(self._done.values())
        if self._bar is None:  # from the count so far: the first rate is measured over the next tick
            self._bar = _new_bar(self._stream, total, done, postfix)
            return
        bar = self._bar
        bar.total = total
        bar.set_postfix_str(postfix, refresh=False)
        if done > bar.n:
            bar.update(done - bar.n)  # through update(), so tqdm's rate and ETA follow
        else:
            bar.refresh()

    def _describe(self, source_id: str) -> str:
        total = self._totals.get(source_id)
        return f"{source_id} {self._done[source_id]}" + (f"/{total}" if total is not None else "")


class _ClearingHandler(logging.Handler):
    """Hands each record to the original handler (its filters, e.g. credential masking, and its
    formatter apply) with the progress line cleared around it."""

    def __init__(self, inner: logging.Handler, stream: TextIO) -> None:
        super().__init__(inner.level)
        self.inner, self.stream = inner, stream

    def handle(self, record: logging.LogRecord) -> bool:
        from tqdm import tqdm

        with tqdm.external_write_mode(file=self.stream):
            return bool(self.inner.handle(record))

    def emit(self, record: logging.LogRecord) -> None:  # handle() does the work
        self.inner.emit(record)

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        self.inner.setFormatter(fmt)

    def close(self) -> None:
        self.inner.close()
        super().close()


def _new_bar(stream: TextIO, total: int | None, initial: int, postfix: str) -> tqdm[Any]:
    from tqdm import tqdm  # only when a progress line is drawn

    class Bar(tqdm):
        monitor_interval = 0  # no monitor thread: the timer refreshes

    return Bar(
        desc="vigil",
        total=total,
        initial=initial,
        postfix=postfix,
        file=stream,
        unit=" frames",
        dynamic_ncols=True,
        mininterval=0,
        miniters=1,
        leave=True,
    )
