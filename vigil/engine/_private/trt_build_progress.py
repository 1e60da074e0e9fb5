"""How a TensorRT build reports progress: phases with a heartbeat while one runs (a build takes
minutes), and TensorRT's own progress monitor where it has one."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Progress", "log_progress", "phase", "progress_monitor"]

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]  # (phase, seconds since the build started)
_HEARTBEAT_S = 15.0


@contextmanager
def phase(progress: Progress, started: float, name: str) -> Iterator[None]:
    """Report phase `name` at its start and every _HEARTBEAT_S while it runs (a build takes minutes)."""
    progress(name, time.monotonic() - started)
    done = threading.Event()

    def beat() -> None:
        while not done.wait(_HEARTBEAT_S):
            progress(f"{name} (still running)", time.monotonic() - started)

    thread = threading.Thread(target=beat, name="trt-build-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def log_progress(phase: str, elapsed: float) -> None:
    log.info("TensorRT build: %s (%.0f s elapsed)", phase, elapsed)


def progress_monitor(trt: Any, progress: Progress, started: float) -> Any:
    """TensorRT >= 10's IProgressMonitor, reporting its phases through `progress`."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None

    class Monitor(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self._steps: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            self._steps[phase_name] = num_steps
            progress(f"TensorRT phase '{phase_name}' ({num_steps} steps)", time.monotonic() - started)

        def step_complete(self, phase_name: str, step: int) -> bool:
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            progress(f"TensorRT phase '{phase_name}' finished", time.monotonic() - started)

    return Monitor()
