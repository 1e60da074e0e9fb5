"""The terminal progress line: when it is shown, what it counts, and log lines around it."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timezone

import numpy as np
import pytest

from vigil.cli.progress import Progress, progress_wanted
from vigil.daemon.logs import configure_logging
from vigil.engine import Detections
from vigil.frame import Frame
from vigil.result import InferenceResult, Timings


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


class ClosedTty(TtyStream):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize(
    ("stream", "log_format", "environ", "shown"),
    [
        (TtyStream(), None, {}, True),
        (TtyStream(), "auto", {}, True),
        (TtyStream(), "text", {}, True),
        (TtyStream(), "json", {}, False),
        (io.StringIO(), None, {}, False),  # a pipe or a file
        (io.StringIO(), "text", {}, False),
        (ClosedTty(), None, {}, False),
        (TtyStream(), None, {"JOURNAL_STREAM": "8:12345"}, False),  # systemd
        (TtyStream(), None, {"INVOCATION_ID": "5f2c0b1e"}, False),  # systemd, output to a file or tty
        (TtyStream(), None, {"CI": "true"}, False),
        (TtyStream(), None, {"CI": "1"}, False),
        (TtyStream(), None, {"CI": "false"}, True),
        (TtyStream(), None, {"CI": ""}, True),
    ],
)
def test_progress_is_shown_only_to_a_person_at_a_terminal(stream, log_format, environ, shown):
    assert progress_wanted(stream, log_format, environ) is shown


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def result(source_id: str, seq: int) -> InferenceResult:
    frame = Frame(source_id, seq, seq / 30, datetime.now(timezone.utc), np.zeros((4, 4, 3), np.uint8))
    return InferenceResult(frame, "stub", Detections.empty(), Timings(0.0, 0.0, 0.0, 0.0, 0.0))


async def test_counts_each_source_and_totals_only_when_every_length_is_known(root_logger):
    stream = TtyStream()
    configure_logging("INFO", "text", stream)
    with Progress(stream, refresh_s=3600) as progress:  # no timer draw: only the final one
        progress.source_started("a", 5)
        progress.source_started("b", 4)
        for seq in range(3):
            progress.result(result("a", seq))
        progress.result(result("b", 0))
    shown = stream.getvalue()
    assert "a 3/5, b 1/4" in shown and "4/9" in shown


async def test_no_total_when_a_source_has_no_known_length(root_logger):
    stream = TtyStream()
    with Progress(stream, refresh_s=3600) as progress:
        progress.source_started("file", 5)
        progress.source_started("looped", None)
        progress.result(result("looped", 0))
    final = stream.getvalue().rsplit("\r", 1)[-1]
    assert "file 0/5, looped 1" in final and "1 frames [" in final and "%" not in final


async def test_log_lines_clear_the_line_and_keep_their_filters(root_logger):
    stream = TtyStream()
    handler = configure_logging("INFO", "text", stream)
    log = logging.getLogger("vigil.test.progress")
    with Progress(stream, refresh_s=0.01) as progress:
        progress.source_started("a", 10)
        progress.result(result("a", 0))
        await asyncio.sleep(0.05)  # drawn by the timer
        log.info("opened rtsp://admin:hunter2@cam/stream")
    assert root_logger.handlers.count(handler) == 1  # put back
    shown = stream.getvalue()
    # the line drawn, wiped with blanks, the record whole on its own line (masked), the line again
    record = r"\d{4}-\d\d-\d\d [\d:,]+ INFO vigil.test.progress: opened rtsp://admin:\*\*\*@cam/stream\n"
    assert re.search(r"a 1/10\]\r +\r" + record + r"\rvigil: ", shown), shown
    assert "hunter2" not in shown
