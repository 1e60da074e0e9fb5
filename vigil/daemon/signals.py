"""The process's signals while vigil runs, the way uvicorn's server takes them: a handler only
records what was asked and hands it on.

    with StopSignals(stop=pipeline.request_stop, force=exit_now, reload=on_sighup):
        await pipeline.run()

SIGINT or SIGTERM calls `stop` (finish the frames already read); a second one calls `force`
(the command line's exits at once: only it exits the process). SIGHUP calls `reload`, when
given (else SIGHUP keeps its handler). The handlers are installed on the running loop on entry;
on exit the ones that were there before are put back.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["Interrupted", "StopSignals"]

log = logging.getLogger(__name__)


class Interrupted(Exception):
    """A second stop signal cut the run short: what was still in flight is lost."""


class StopSignals:
    def __init__(self, stop: Callable[[], None], force: Callable[[], None], reload: Callable[[], None] | None = None) -> None:
        self.stop, self.force, self.reload = stop, force, reload
        self.seen = 0  # SIGINT and SIGTERM received
        self._before: dict[signal.Signals, Any] = {}  # the handlers there before, put back on exit

    def __enter__(self) -> StopSignals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._before[sig] = signal.getsignal(sig)
            loop.add_signal_handler(sig, self._on_stop, sig)
        if self.reload is not None:
            self._before[signal.SIGHUP] = signal.getsignal(signal.SIGHUP)
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        loop = asyncio.get_running_loop()
        for sig, before in self._before.items():
            loop.remove_signal_handler(sig)
            if before is not None:  # None: set from outside Python, nothing to put back
                signal.signal(sig, before)
        self._before.clear()

    def _on_stop(self, sig: signal.Signals) -> None:
        self.seen += 1
        if self.seen == 1:
            log.info("%s: stopping; finishing frames already read (again to force)", sig.name)
            self.stop()
        else:
            log.warning("%s again: exiting now, results still in flight are lost", sig.name)
            self.force()
