"""Counts over time (`counts:` in the YAML; `GET /api/v1/counts`): per line, crossings in and
out; per zone, entries, exits, the most objects inside at once, mean occupancy and mean stay;
summed per minute in one SQLite table and added up per interval when asked.

    counts = CountStore("counts.sqlite", retention_days=31)   # a PipelineObserver
    counts.events(events)                                      # on the loop: sums in memory
    counts.flush()                                             # to SQLite (a thread: `run()` every 5 s)
    counts.report(CountsQuery.from_params({"interval": "15m"}))  # CountRows, empty intervals included

Why sums per minute rather than a query over the events: a busy camera makes millions of
events a month, and adding them up for a month of 15-minute rows means reading all of them; its
minutes are at most 44,640 rows per line or zone a month, whatever the traffic, so a month's
report reads at most that many rows per line or zone (one range of the primary key: ~80 ms for a
month in 15-minute rows here), and the file's size is bounded by the number of lines and zones
times `retention_days` of minutes (5 MB for two lines and a zone busy every minute of a month).
Summing on write costs ~4 us an event on the loop and a flush every 5 s ~0.4 ms on a thread
(WAL). Minutes older than `retention_days` are deleted, at most once an hour.

Occupancy comes from the zone events alone: `zone_enter` adds one object inside, `zone_exit`
takes one away (never below 0); each minute keeps the most inside at once and the
occupancy-seconds (objects inside times seconds), so the mean over an interval is their sum over
its length (its past part, for the interval that holds now). A stay is a `zone_enter` and the
same track's `zone_exit`; its length is counted in the minute it ended. A daemon that restarts
starts with empty zones (its tracks start afresh too); what was summed is kept.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigil.errors import ConfigError
from vigil.pipeline.observer import PipelineObserver
from vigil.store.counts_query import MAX_ROWS, CountRow, CountsQuery, Minute, Series

if TYPE_CHECKING:
    from vigil.events import Event

__all__ = ["CountStore", "TooManyRows"]

log = logging.getLogger(__name__)

_OPEN_STAYS = 100_000  # tracks inside a zone remembered for their stay's length, at most
_PRUNE_EVERY_S = 3600.0
_COLUMNS = ("n_in", "n_out", "entries", "exits", "occ_max", "occ_s", "dwell_n", "dwell_s")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS minutes (source TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, "
    "minute INTEGER NOT NULL, n_in INTEGER NOT NULL, n_out INTEGER NOT NULL, entries INTEGER NOT NULL, "
    "exits INTEGER NOT NULL, occ_max INTEGER NOT NULL, occ_s REAL NOT NULL, dwell_n INTEGER NOT NULL, "
    "dwell_s REAL NOT NULL, PRIMARY KEY (source, kind, name, minute)) WITHOUT ROWID"
)
_SERIES = "CREATE TABLE IF NOT EXISTS series (source TEXT, kind TEXT, name TEXT, PRIMARY KEY (source, kind, name)) WITHOUT ROWID"
_UPSERT = (
    f"INSERT INTO minutes (source, kind, name, minute, {', '.join(_COLUMNS)}) VALUES ({', '.join('?' * 12)}) "
    "ON CONFLICT (source, kind, name, minute) DO UPDATE SET n_in = n_in + excluded.n_in, n_out = n_out + excluded.n_out, "
    "entries = entries + excluded.entries, exits = exits + excluded.exits, occ_max = max(occ_max, excluded.occ_max), "
    "occ_s = occ_s + excluded.occ_s, dwell_n = dwell_n + excluded.dwell_n, dwell_s = dwell_s + excluded.dwell_s"
)


class TooManyRows(ValueError):
    """The answer would hold more than MAX_ROWS rows."""


@dataclass(slots=True)
class _Zone:
    inside: int = 0
    since: float = 0.0  # when `inside` last changed (epoch seconds)


class CountStore(PipelineObserver):
    """The counts of every camera's lines and zones (see the module's docstring). `path` is a
    SQLite file (":memory:" for none); `clock` gives epoch seconds (now)."""

    def __init__(self, path: str, retention_days: int = 31, clock: Callable[[], float] = time.time) -> None:
        self.path, self.retention_s, self.clock = path, retention_days * 86400, clock
        self.flushes_failed = 0
        self.last_error: str | None = None  # the failing flush's error until a flush works again (/readyz)
        self._lock = threading.Lock()  # the pending sums and the zones: the loop writes, a thread flushes
        self._db_lock = threading.Lock()
        self._pending: dict[tuple[Series, int], Minute] = {}
        self._zones: dict[Series, _Zone] = {}
        self._stays: OrderedDict[tuple[Series, int], float] = OrderedDict()  # (zone, tracker id) -> entered at
        self._pruned_at = 0.0
        self._task: asyncio.Task[None] | None = None
        try:
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")  # a flush every 5 s: appends to the log, no rewrite of pages
            self._db.execute("PRAGMA synchronous=NORMAL")  # a power cut may lose the last flush, never the file
            self._db.execute(_SCHEMA)
            self._db.execute(_SERIES)
            self._db.commit()
        except sqlite3.Error as exc:
            raise ConfigError(
                f"counts.database {path}: cannot use it ({exc}); give a writable SQLite file or move it away"
            ) from None

    # --- writing (the event loop) -------------------------------------------------------------

    def events(self, events: Sequence[Event]) -> None:
        with self._lock:
            for event in events:
                t = event.capture_time.timestamp()
                if event.type == "line_cross" and event.line is not None and event.direction in ("in", "out"):
                    minute = self._minute((event.source, "line", event.line), t)
                    if event.direction == "in":
                        minute.n_in += 1
                    else:
                        minute.n_out += 1
                elif event.type in ("zone_enter", "zone_exit") and event.zone is not None:
                    self._zone_event((event.source, "zone", event.zone), event.type == "zone_enter", event.tracker_id, t)

    def _zone_event(self, series: Series, entered: bool, tracker_id: int, t: float) -> None:
        zone = self._zones.setdefault(series, _Zone(since=t))
        t = max(t, zone.since)  # events held until their object started may come a little late
        self._occupy(series, zone, t)
        minute = self._minute(series, t)
        key = (series, tracker_id)
        if entered:
            zone.inside += 1
            minute.entries += 1
            self._stays[key] = t
            if len(self._stays) > _OPEN_STAYS:
                self._stays.popitem(last=False)
        else:
            zone.inside = max(0, zone.inside - 1)
            minute.exits += 1
            entered_at = self._stays.pop(key, None)
            if entered_at is not None:
                minute.dwell_n += 1
                minute.dwell_s += t - entered_at
        minute.occ_max = max(minute.occ_max, zone.inside)

    def _occupy(self, series: Series, zone: _Zone, until: float) -> None:
        """Count the objects inside from `zone.since` to `until`, minute by minute, into the sums."""
        if zone.inside:  # a stretch longer than the retention is counted over its kept part only
            for minute_no, seconds in _minutes_between(max(zone.since, until - self.retention_s), until):
                minute = self._pending.setdefault((series, minute_no), Minute())
                minute.occ_s += zone.inside * seconds
                minute.occ_max = max(minute.occ_max, zone.inside)
        zone.since = until

    def _minute(self, series: Series, t: float) -> Minute:
        return self._pending.setdefault((series, int(t // 60)), Minute())

    # --- the file (a thread) ---------------------------------------------------------------------

    def flush(self) -> None:
        """Write the pending sums to the file (and delete minutes past retention, once an hour). Blocks."""
        with self._db_lock:  # held from taking the sums to writing them: a report never sees them in neither place
            with self._lock:
                pending, self._pending = self._pending, {}
            rows = [(*series, minute_no, *(getattr(m, c) for c in _COLUMNS)) for (series, minute_no), m in pending.items()]
            try:
                if rows:
                    self._db.executemany(_UPSERT, rows)
                    self._db.executemany(
                        "INSERT OR IGNORE INTO series (source, kind, name) VALUES (?, ?, ?)", {row[:3] for row in rows}
                    )
                now = self.clock()
                if now - self._pruned_at >= _PRUNE_EVERY_S:
                    self._db.execute("DELETE FROM minutes WHERE minute < ?", (int((now - self.retention_s) // 60),))
                    self._db.execute(
                        "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM minutes m WHERE "
                        "m.source = series.source AND m.kind = series.kind AND m.name = series.name)"
                    )
                    self._pruned_at = now
                self._db.commit()
                self.last_error = None
            except sqlite3.Error as exc:
                self._db.rollback()
                self.flushes_failed += 1
                self.last_error = f"cannot write {self.path} ({exc}); the sums wait in memory and are retried every few seconds"
                with self._lock:  # kept for the next flush: nothing counted is lost to a full disk
                    for (series, minute_no), minute in pending.items():
                        self._pending.setdefault((series, minute_no), Minute()).add(minute)
                log.warning(
                    "counts: cannot write %s (%s); %d minute(s) kept in memory for the next try", self.path, exc, len(rows)
                )

    def start(self, every_s: float = 5.0) -> None:
        """Flush every `every_s` seconds, on a thread, until `stop()` (call on the event loop)."""
        self._task = asyncio.create_task(self._flush_forever(every_s), name="counts-flush")

    async def _flush_forever(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await asyncio.to_thread(self.flush)
            except Exception:  # a bug must not end the counting for good: the sums wait for the next try
                log.exception("counts: flushing failed")

    async def stop(self) -> None:
        """The flushing ended and the file closed, everything counted written."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """The open stretches of occupancy counted up to now, everything written, the file closed. Blocks."""
        now = self.clock()
        with self._lock:
            for series, zone in self._zones.items():
                self._occupy(series, zone, max(now, zone.since))
        self.flush()
        with self._db_lock:
            self._db.close()

    # --- reading (a thread) ----------------------------------------------------------------------

    def report(self, query: CountsQuery) -> list[CountRow]:
        """Every interval of every line and zone `query` selects, oldest first, zeros where
        nothing happened. Blocks. TooManyRows past MAX_ROWS; KeyError when nothing matches."""
        self.flush()
        now = self.clock()
        totals: dict[tuple[Series, int], Minute] = {}
        with self._db_lock:
            known = [s for s in self._db.execute("SELECT source, kind, name FROM series") if query.wants(s)]
            with self._lock:
                unwritten = {s for s, _ in self._pending} | set(self._zones)
            series = sorted(set(known) | {s for s in unwritten if query.wants(s)})
            if not series:
                raise KeyError(_nothing(query))
            rows = len(series) * query.intervals
            if rows > MAX_ROWS:
                raise TooManyRows(
                    f"the answer would hold {rows} rows ({len(series)} lines and zones x {query.intervals} intervals), "
                    f"more than {MAX_ROWS}; give a longer interval, a shorter since..until, or a source, line or zone"
                )
            for one in known:
                for start_s, *sums in self._select(query, one):
                    totals[(one, start_s)] = Minute(*sums)  # type: ignore[arg-type]  # the columns in Minute's order
            with self._lock:  # what is not in the file yet: sums a failed flush kept, the objects inside since the last change
                first, last = query.since_s // 60, query.until_s // 60
                for (s, minute_no), waiting in self._pending.items():
                    if first <= minute_no < last and query.wants(s):
                        totals.setdefault((s, minute_no * 60 // query.interval_s * query.interval_s), Minute()).add(waiting)
                for s, zone in self._zones.items():
                    if query.wants(s) and zone.inside:
                        start = max(zone.since, query.since_s, now - self.retention_s)
                        for minute_no, seconds in _minutes_between(start, min(now, query.until_s)):
                            start_s = minute_no * 60 // query.interval_s * query.interval_s
                            totals.setdefault((s, start_s), Minute()).add(
                                Minute(occ_max=zone.inside, occ_s=zone.inside * seconds)
                            )
        return [
            CountRow.of(s, start_s, query.interval_s, totals.get((s, start_s), Minute()), now)
            for s in series
            for start_s in range(query.since_s, query.until_s, query.interval_s)
        ]

    def _select(self, query: CountsQuery, series: Series) -> list[tuple[int, int, int, int, int, int, float, int, float]]:
        """The sums of one line or zone per interval: a range of its primary key, whatever the other cameras."""
        start = f"(minute * 60 / {query.interval_s}) * {query.interval_s}"
        sql = (
            f"SELECT {start} AS start, sum(n_in), sum(n_out), sum(entries), sum(exits), max(occ_max), sum(occ_s), sum(dwell_n), "
            "sum(dwell_s) FROM minutes WHERE source = ? AND kind = ? AND name = ? AND minute >= ? AND minute < ? GROUP BY start"
        )
        return list(self._db.execute(sql, (*series, query.since_s // 60, query.until_s // 60)))


def _minutes_between(start: float, end: float) -> list[tuple[int, float]]:
    """(minute number, seconds of [start, end) in it) for every minute the stretch touches."""
    out: list[tuple[int, float]] = []
    t = start
    while t < end:
        minute_no = int(t // 60)
        stop = min(end, (minute_no + 1) * 60.0)
        out.append((minute_no, stop - t))
        t = stop
    return out


def _nothing(query: CountsQuery) -> str:
    what = " and ".join(f"{k} '{v}'" for k, v in (("source", query.source), ("line", query.line), ("zone", query.zone)) if v)
    if not what:
        return "nothing counted yet: no line or zone has counted anything (within counts.retention_days)"
    return f"nothing counted for {what}: no such line or zone has counted anything (within counts.retention_days)"
