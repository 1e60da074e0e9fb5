"""What `GET /api/v1/counts` asks (`CountsQuery`, from its query string) and answers (`CountRow`s),
and the per-minute sums the counts store keeps (`Minute`). The store is `vigil.store.counts`.

    CountsQuery.from_params({"source": "gate", "line": "door", "interval": "15m", "since": "2026-12-01T06:00:00Z"})

Intervals are aligned on the UTC epoch (a `1d` interval is a UTC day); `since` is rounded down and
`until` up to the interval, so every row covers a whole interval.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from vigil.store.base import _instant

__all__ = ["MAX_ROWS", "PARAMETERS", "CountRow", "CountsQuery", "Kind", "Minute", "Series"]

MAX_ROWS = 10_000  # most rows one answer holds: series x intervals
PARAMETERS = ("source", "line", "zone", "interval", "since", "until", "format")
_INTERVAL = re.compile(r"(\d{1,4})([mhd])")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}
_DEFAULT_SPAN_S = 86400  # without since: the day before until

Kind = Literal["line", "zone"]
Series = tuple[str, Kind, str]  # (source, "line" | "zone", its name)


@dataclass(slots=True)
class Minute:
    """One minute of one line or zone: crossings in and out; entries, exits, the most objects
    inside at once, objects inside times seconds (occupancy-seconds), stays that ended and their length."""

    n_in: int = 0
    n_out: int = 0
    entries: int = 0
    exits: int = 0
    occ_max: int = 0
    occ_s: float = 0.0
    dwell_n: int = 0
    dwell_s: float = 0.0

    def add(self, other: Minute) -> None:
        self.n_in += other.n_in
        self.n_out += other.n_out
        self.entries += other.entries
        self.exits += other.exits
        self.occ_max = max(self.occ_max, other.occ_max)
        self.occ_s += other.occ_s
        self.dwell_n += other.dwell_n
        self.dwell_s += other.dwell_s


@dataclass(frozen=True, slots=True)
class CountRow:
    """One interval of one line (`in`, `out`) or zone (entries, exits, occupancy, mean stay)."""

    start: datetime
    end: datetime
    source: str
    line: str | None
    zone: str | None
    n_in: int | None
    n_out: int | None
    entries: int | None
    exits: int | None
    max_occupancy: int | None
    mean_occupancy: float | None
    mean_dwell_s: float | None

    @classmethod
    def of(cls, series: Series, start_s: int, interval_s: int, total: Minute, now_s: float) -> CountRow:
        source, kind, name = series
        start, end = _utc(start_s), _utc(start_s + interval_s)
        if kind == "line":
            return cls(start, end, source, name, None, total.n_in, total.n_out, None, None, None, None, None)
        elapsed = min(start_s + interval_s, now_s) - start_s  # the interval's past part (now may be inside it)
        mean = round(total.occ_s / elapsed, 3) if elapsed > 0 else 0.0
        dwell = round(total.dwell_s / total.dwell_n, 3) if total.dwell_n else None
        return cls(start, end, source, None, name, None, None, total.entries, total.exits, total.occ_max, mean, dwell)


@dataclass(frozen=True, slots=True)
class CountsQuery:
    """Which counts: the lines and zones of `source` (None: every camera) named `line` / `zone`
    (neither: all of them; one: only that line or zone; both: both), per `interval_s`, from
    `since_s` to `until_s` (epoch seconds, whole intervals)."""

    interval: str = "15m"
    interval_s: int = 900
    since_s: int = 0
    until_s: int = 900
    source: str | None = None
    line: str | None = None
    zone: str | None = None
    csv: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, str], now_s: float | None = None, accept: str = "") -> CountsQuery:
        """A query string's values; a bad one is a ValueError naming it and what to send."""
        unknown = sorted(set(params) - set(PARAMETERS))
        if unknown:
            raise ValueError(f"unknown query parameter(s) {', '.join(unknown)}; use {', '.join(PARAMETERS)}")
        interval = params.get("interval") or "15m"
        interval_s = _interval_s(interval)
        now_s = time.time() if now_s is None else now_s
        until = _instant(params, "until")
        until_s = _ceil(until.timestamp() if until is not None else now_s, interval_s)
        since = _instant(params, "since")
        since_s = math.floor((since.timestamp() if since is not None else until_s - _DEFAULT_SPAN_S) / interval_s) * interval_s
        if since_s >= until_s:
            raise ValueError("since must be before until; give e.g. since=2026-12-01T00:00:00Z&until=2026-12-02T00:00:00Z")
        fmt = params.get("format") or ("csv" if "text/csv" in accept else "json")
        if fmt not in ("json", "csv"):
            raise ValueError(f"format '{fmt[:20]}' is not known; use json or csv")
        names = {key: (params.get(key) or None) for key in ("source", "line", "zone")}
        for key, value in names.items():
            if value is not None and len(value) > 200:
                raise ValueError(f"{key} is longer than 200 characters; give the name of a {key}")
        return cls(interval, interval_s, since_s, until_s, names["source"], names["line"], names["zone"], fmt == "csv")

    @property
    def intervals(self) -> int:
        return (self.until_s - self.since_s) // self.interval_s

    def wants(self, series: Series) -> bool:
        source, kind, name = series
        if self.source is not None and source != self.source:
            return False
        if self.line is None and self.zone is None:
            return True
        return (kind == "line" and name == self.line) or (kind == "zone" and name == self.zone)


def _interval_s(text: str) -> int:
    found = _INTERVAL.fullmatch(text)
    seconds = int(found[1]) * _UNIT_S[found[2]] if found else 0
    if not 60 <= seconds <= 86400:
        raise ValueError(f"interval '{text[:20]}' must be whole minutes, hours or days from 1m to 1d; give e.g. 15m, 1h or 1d")
    return seconds


def _ceil(seconds: float, step: int) -> int:
    return math.ceil(seconds / step) * step


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)
