"""How `vigil demo` runs the daemon (`vigil.daemon.service.Daemon`, in this process): the
console's URL said once the API listens, each event said as it comes (from the daemon's event
log), and, for a run over files read once, a stop once every frame is through.
"""

from __future__ import annotations

import asyncio
import errno
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.config.daemon import DaemonConfig
from vigil.errors import ConfigError
from vigil.pipeline.runner import PipelineReport

if TYPE_CHECKING:
    from vigil.daemon.service import Daemon

__all__ = ["record_line", "run_daemon"]


def record_line(record: dict[str, Any]) -> str:
    """`event_line` of an event's JSON record (`Event.to_record()`, as the daemon keeps it)."""
    at = datetime.fromisoformat(str(record["capture_time"]).replace("Z", "+00:00"))
    parts = ["event", f"{at:%H:%M:%S}.{at.microsecond // 1000:03d}", str(record["source"]), str(record["type"])]
    if record.get("zone") is not None:
        parts.append(f"zone={record['zone']}")
    if record.get("line") is not None:
        parts.append(f"line={record['line']} {record.get('direction')}")
    parts.append(f"track={record.get('tracker_id')} ({record.get('class_name')})")
    return " ".join(parts)


class _EventPrinter:
    """Says the daemon's new events (from its event store), oldest first, each once."""

    def __init__(self, daemon: Daemon, say: Callable[[str], None]) -> None:
        self.daemon = daemon
        self.say = say
        self.last: str | None = None  # the id of the newest event said

    def say_new(self) -> None:
        from vigil.store.base import MAX_LIMIT, EventQuery

        store = self.daemon.store
        if store is None:  # not opened yet
            return
        new = []
        for logged in store.query(EventQuery(limit=MAX_LIMIT)):  # newest first
            if logged.event_id == self.last:
                break
            new.append(logged.record)
        for record in reversed(new):
            self.say(record_line(record))
        if new:
            self.last = str(new[0]["id"])


async def run_daemon(
    config: DaemonConfig, say: Callable[[str], None], serve: bool, force: Callable[[], None] | None = None
) -> PipelineReport:
    """The daemon of `config` until it is stopped: with `serve`, by SIGINT/SIGTERM
    (`Daemon.serve`; a second one calls `force`); else once every stream has ended and its
    frames are through."""
    from vigil.api.media import StreamPolicy
    from vigil.api.state import StreamLayer
    from vigil.daemon.service import Daemon  # aiohttp, prometheus-client: only now

    state = Path(str(config.api.state_file))
    if not serve:
        await asyncio.to_thread(state.unlink, missing_ok=True)  # a run that checks its events starts from the demo's own shapes
    daemon = Daemon(config, layer=await asyncio.to_thread(StreamLayer.load, state, StreamPolicy.of(config.api)))
    printer = _EventPrinter(daemon, say)
    run = asyncio.create_task(daemon.serve(force=force) if serve else daemon.run(), name="demo-daemon")
    follow = asyncio.create_task(_follow(daemon, run, printer, serve), name="demo-follow")
    try:
        return await run
    except OSError as exc:
        if daemon.api_port is None and exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise ConfigError(
                f"the console cannot listen on {config.api.host}:{config.api.port} ({exc.strerror}); "
                "give another --port, or leave it out for a free one"
            ) from None
        raise
    finally:
        follow.cancel()
        await asyncio.gather(follow, return_exceptions=True)
        printer.say_new()  # the events of the stop (zone_exit, object_end)


async def _follow(daemon: Daemon, run: asyncio.Task[PipelineReport], printer: _EventPrinter, serve: bool) -> None:
    """Say the console's URL once the daemon is ready, then its events as they come; stop the
    daemon (not `serve`) once all its streams have ended."""
    ready = asyncio.ensure_future(daemon.wait_ready())
    await asyncio.wait([ready, run], return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        return
    if daemon.stopping:  # stopped while it started: it stops once running
        return
    printer.say(f"console: http://{daemon.api.host}:{daemon.api_port}/")
    if serve:
        printer.say("the sources loop; Ctrl-C to stop")
    settled, idle, batches = 0, 0, -1
    while True:
        printer.say_new()
        if not serve and daemon.pipeline is not None:
            ended, through = _read_through(daemon)
            settled = settled + 1 if through else 0
            done = daemon.pipeline.report.batches + daemon.pipeline.report.failed_batches
            idle, batches = (idle + 1 if ended and done == batches else 0), done
            # Through twice in a row, 0.1 s apart: no frame between two steps is missed. Ended
            # with no batch done for 3 s: the frames of a failed batch never get a result.
            if settled == 2 or idle == 30:
                daemon.stop()
        await asyncio.sleep(0.1)


def _read_through(daemon: Daemon) -> tuple[bool, bool]:
    """(ended, through): every stream has ended (or failed) and no frame waits in its decode
    hand-off (stopping a source discards those) or before a stage; through: also each frame
    counted in has a result or was dropped."""
    pipeline = daemon.pipeline
    assert pipeline is not None
    snap = pipeline.snapshot()
    if not snap.sources or any(snap.stages.values()):
        return False, False
    dropped: Counter[str] = Counter()
    for (source_id, _), n in snap.dropped.items():
        dropped[source_id] += n
    through = True
    for source_id, source in snap.sources.items():
        if source.state.value not in ("ended", "failed") or source.decoded_queue or source.batcher_queue:
            return False, False
        report = pipeline.report.sources.get(source_id)
        if report is not None and report.results + dropped[source_id] < report.frames_in:
            through = False
    return True, through
