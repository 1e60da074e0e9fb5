"""`Fanout`: the last step of the pipeline, handing each result to the sinks its source routes to.

The runner owns one. It starts the sinks before the first frame and closes them last; between
the two, `publish` sends a result to every sink the result's source may use, one after the
other (each sink keeps its own order), and `replace` swaps sinks while publishing waits, so a
result goes to the old sink or to the new one, never to a closed one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from vigil.errors import SinkError, VigilError
from vigil.result import InferenceResult
from vigil.sinks.base import Sink

__all__ = ["Fanout"]

log = logging.getLogger(__name__)


class Fanout:
    """The sinks of one pipeline and the routes of its sources.

    `routes` maps a source id to the sink keys it publishes to (a source absent from it
    publishes to every sink). A sink's key is what the configuration names it by: `sink_key`.
    """

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)
        self.routes: dict[str, frozenset[str]] = {}
        self.errors = 0  # publish calls that raised SinkError, over every sink
        self._open = False
        self._lock = asyncio.Lock()  # held while publishing a result and while sinks are swapped

    async def start(self) -> None:
        for sink in self.sinks:
            await sink.start()
        self._open = True

    async def publish(self, result: InferenceResult) -> None:
        allowed = self.routes.get(result.frame.source_id)
        async with self._lock:
            for sink in self.sinks:
                if allowed is not None and sink_key(sink) not in allowed:
                    continue
                try:
                    await sink.publish(result)
                except SinkError as exc:
                    self.errors += 1
                    if self.errors == 1:
                        log.error("%s", exc)

    async def flush(self) -> None:
        for sink in self.sinks:
            await sink.flush()

    async def close(self) -> None:
        async with self._lock:
            self._open = False
            for sink in self.sinks:
                await sink.close()

    async def replace(self, changes: Mapping[str, Sink | None]) -> None:
        """Swap the sinks of the keys in `changes` for new ones; None removes that key. Each old
        sink writes (or spools) what it had queued and closes before its replacement starts, so
        a sink reusing the old one's files finds them closed. A replacement that fails to start
        is logged and left out (the error names it)."""
        async with self._lock:
            kept = [s for s in self.sinks if sink_key(s) not in changes]
            if self._open:
                for old in self.sinks:
                    if sink_key(old) in changes:
                        await old.close()
            for key, new in changes.items():
                if new is None:
                    continue
                if self._open:
                    try:
                        await new.start()
                    except VigilError as exc:
                        log.error("sink '%s' could not start, so its results are not published: %s", key, exc)
                        continue
                kept.append(new)
            self.sinks = kept


def sink_key(sink: Sink) -> str:
    """`jsonl` of a sink named `jsonl` or `jsonl:out.jsonl`: what the configuration and routes name."""
    return sink.name.split(":", 1)[0]
