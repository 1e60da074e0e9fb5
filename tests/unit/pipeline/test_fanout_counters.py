"""A sink replaced by a reload hands its counts on: `Outlet.totals()` (what `/metrics` exports)
never goes back, so Prometheus sees no counter reset and nothing the old sink dropped while it
closed is lost from the record."""

from __future__ import annotations

from vigil.pipeline.fanout import Fanout
from vigil.result import InferenceResult
from vigil.sinks.base import Sink, SinkStats


class Counting(Sink):
    def __init__(self, name: str, stats: SinkStats) -> None:
        self.name, self._stats, self.closed = name, stats, False

    def stats(self) -> SinkStats:
        return self._stats

    async def publish(self, result: InferenceResult) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None:  # what it drops while closing (a full disk) counts too
        self.closed = True
        self._stats = SinkStats(
            self._stats.published,
            self._stats.dropped + 2,
            0,
            self._stats.errors,
            None,
            self._stats.duplicates,
            dropped_by_reason={
                **self._stats.dropped_by_reason,
                "disk_full": self._stats.dropped_by_reason.get("disk_full", 0) + 2,
            },
        )


async def test_a_replaced_sink_s_counts_carry_into_its_replacement():
    old = Counting("hook", SinkStats(published=10, dropped=3, errors=1, duplicates=1, dropped_by_reason={"disk_full": 3}))
    other = Counting("jsonl", SinkStats(published=7))
    fanout = Fanout([old, other])
    await fanout.start()
    new = Counting(
        "hook", SinkStats(published=4, dropped=1, backlog=5, errors=2, last_error="down", dropped_by_reason={"spool_full": 1})
    )
    await fanout.replace({"hook": new})
    assert old.closed
    totals = {o.name: o.totals() for o in fanout.outlets}
    assert totals["hook"] == SinkStats(
        published=14,
        dropped=6,
        backlog=5,
        errors=3,
        last_error="down",
        duplicates=1,
        dropped_by_reason={"disk_full": 5, "spool_full": 1},
    )
    assert totals["jsonl"] == SinkStats(published=7)  # untouched by the swap

    newer = Counting("hook", SinkStats())
    await fanout.replace({"hook": newer})  # a second reload adds on again
    assert fanout.outlets[0].totals().published == 14 and fanout.outlets[0].totals().dropped == 8
    await fanout.close()
