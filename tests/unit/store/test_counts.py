"""Counts over time (`vigil.store.counts`): a scripted set of line and zone events summed per
interval as counted by hand (boundaries, empty intervals, occupancy, stays), kept across a
restart in the SQLite file, minutes past retention deleted, and the query's bad values refused
with a message naming them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from vigil.events import Event
from vigil.store.counts import CountStore, TooManyRows
from vigil.store.counts_query import MAX_ROWS, CountRow, CountsQuery

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=timezone.utc)
NOW = (T0 + timedelta(hours=2)).timestamp()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def crossing(minutes: float, direction: str, line: str = "door", source: str = "gate") -> Event:
    return Event("line_cross", source, 1, "person", 0, at(minutes), 0, line=line, direction=direction)


def zone(kind: str, minutes: float, tracker_id: int, name: str = "queue", source: str = "gate") -> Event:
    return Event(kind, source, tracker_id, "person", 0, at(minutes), 0, zone=name)


def query(**params: str) -> CountsQuery:
    return CountsQuery.from_params(params, now_s=NOW)


def store(path: Path | str = ":memory:", clock: float = NOW, **more: Any) -> CountStore:
    return CountStore(str(path), clock=lambda: clock, **more)


def lines(rows: list[CountRow]) -> list[tuple[str, int | None, int | None]]:
    return [(row.start.strftime("%H:%M"), row.n_in, row.n_out) for row in rows if row.line is not None]


def zones(rows: list[CountRow]) -> list[tuple[Any, ...]]:
    return [
        (row.start.strftime("%H:%M"), row.entries, row.exits, row.max_occupancy, row.mean_occupancy, row.mean_dwell_s)
        for row in rows
        if row.zone is not None
    ]


SCRIPT = [
    crossing(0, "in"),  # 06:00:00, the first instant of the first interval
    crossing(14.99, "in"),  # 06:14:59.4, its last second
    crossing(15, "out"),  # 06:15:00: the next interval's
    zone("zone_enter", 0, 1),
    zone("zone_enter", 5, 2),
    zone("zone_exit", 10, 1),  # stayed 600 s
    zone("zone_exit", 20, 2),  # stayed 900 s
]


def test_line_crossings_per_interval_as_counted_by_hand_boundaries_and_empty_intervals_included():
    counts = store()
    counts.events(SCRIPT)
    rows = counts.report(query(line="door", since="2026-12-01T06:00:00Z", until="2026-12-01T06:45:00Z"))
    assert lines(rows) == [("06:00", 2, 0), ("06:15", 0, 1), ("06:30", 0, 0)]
    assert all(row.source == "gate" and row.zone is None and row.entries is None for row in rows)
    assert [row.end - row.start for row in rows] == [timedelta(minutes=15)] * 3


def test_zone_entries_exits_occupancy_and_stays_per_interval_as_counted_by_hand():
    counts = store()
    counts.events(SCRIPT)
    rows = counts.report(query(zone="queue", since="2026-12-01T06:00:00Z", until="2026-12-01T06:45:00Z"))
    # 06:00-06:15: one inside for 5 min, two for 5 min, one for 5 min: 1200 object-seconds over 900 s;
    # the stay that ended (track 1) lasted 600 s. 06:15-06:30: one inside for 5 min (300 / 900).
    assert zones(rows) == [
        ("06:00", 2, 1, 2, 1.333, 600.0),
        ("06:15", 0, 1, 1, 0.333, 900.0),
        ("06:30", 0, 0, 0, 0.0, None),
    ]


def test_neither_line_nor_zone_gives_both_and_an_hour_sums_the_same_events():
    counts = store()
    counts.events(SCRIPT)
    rows = counts.report(query(interval="1h", since="2026-12-01T06:00:00Z", until="2026-12-01T07:00:00Z"))
    assert lines(rows) == [("06:00", 2, 1)]
    assert zones(rows) == [("06:00", 2, 2, 2, 0.417, 750.0)]  # 1500 object-seconds over 3600 s; stays 600, 900


def test_since_and_until_are_rounded_out_to_whole_intervals():
    counts = store()
    counts.events(SCRIPT)
    rows = counts.report(query(line="door", since="2026-12-01T06:07:00Z", until="2026-12-01T06:16:00Z"))
    assert lines(rows) == [("06:00", 2, 0), ("06:15", 0, 1)]


def test_objects_still_inside_count_up_to_now_and_the_interval_holding_now_is_averaged_over_its_past():
    now = at(10).timestamp()
    counts = store(clock=now)
    counts.events([zone("zone_enter", 0, 1), zone("zone_enter", 4, 2)])
    rows = counts.report(CountsQuery.from_params({"interval": "15m", "since": "2026-12-01T06:00:00Z"}, now_s=now))
    # one inside 4 min, two inside 6 min: 240 + 720 = 960 object-seconds over the 600 s past
    assert zones(rows) == [("06:00", 2, 0, 2, 1.6, None)]


def test_the_counts_survive_a_restart_and_new_ones_add_to_them(tmp_path):
    path = tmp_path / "counts.sqlite"
    first = store(path)
    first.events(SCRIPT)
    first.close()
    second = store(path)
    second.events([crossing(1, "out")])
    asked = query(since="2026-12-01T06:00:00Z", until="2026-12-01T06:30:00Z")
    rows = second.report(asked)
    assert lines(rows) == [("06:00", 2, 1), ("06:15", 0, 1)]
    assert zones(rows)[0] == ("06:00", 2, 1, 2, 1.333, 600.0)
    second.close()
    third = store(path)
    assert lines(third.report(asked)) == [("06:00", 2, 1), ("06:15", 0, 1)]
    third.close()


def test_minutes_older_than_the_retention_are_deleted_and_the_rest_kept(tmp_path):
    path = tmp_path / "counts.sqlite"
    writer = store(path)
    writer.events([crossing(0, "in"), crossing(24 * 60 + 1, "in", line="back")])  # day 1 on door, day 2 on back
    writer.close()
    later = at(24 * 60 + 30).timestamp()  # a day and 30 minutes after the first crossing, 29 minutes after the second
    kept = store(path, clock=later, retention_days=1)
    kept.flush()  # the hourly pruning runs at the first flush
    with pytest.raises(KeyError, match="nothing counted for line 'door'"):
        kept.report(CountsQuery.from_params({"line": "door", "since": "2026-12-01T00:00:00Z"}, now_s=later))
    rows = kept.report(CountsQuery.from_params({"line": "back", "interval": "1d", "since": "2026-12-02T00:00:00Z"}, now_s=later))
    assert lines(rows)[0] == ("00:00", 1, 0)
    kept.close()


def test_a_report_beyond_the_row_bound_is_refused_naming_what_to_change():
    counts = store()
    counts.events(SCRIPT)
    with pytest.raises(TooManyRows, match=rf"more than {MAX_ROWS}; give a longer interval"):
        counts.report(query(interval="1m", since="2026-11-20T00:00:00Z", until="2026-12-01T00:00:00Z"))


def test_an_unknown_name_is_nothing_counted():
    counts = store()
    counts.events(SCRIPT)
    with pytest.raises(KeyError, match="nothing counted for source 'yard'"):
        counts.report(query(source="yard"))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"interval": "7x"}, "interval '7x' must be whole minutes, hours or days from 1m to 1d"),
        ({"interval": "2d"}, "interval '2d' must be"),
        ({"interval": "30s"}, "interval '30s' must be"),
        ({"since": "yesterday"}, "since 'yesterday' is not an ISO 8601 time"),
        ({"until": "2026-13-01"}, "until '2026-13-01' is not an ISO 8601 time"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "since must be before until"),
        ({"format": "xml"}, "format 'xml' is not known; use json or csv"),
        ({"camera": "gate"}, "unknown query parameter(s) camera; use source, line, zone"),
        ({"line": "x" * 201}, "line is longer than 200 characters"),
    ],
)
def test_bad_query_values_are_refused_naming_the_parameter(params, message):
    with pytest.raises(ValueError) as refused:
        CountsQuery.from_params(params, now_s=NOW)
    assert message in str(refused.value)


def test_defaults_are_the_last_day_in_15_minutes_and_csv_by_accept():
    asked = CountsQuery.from_params({}, now_s=NOW + 1, accept="text/csv")
    assert asked.interval_s == 900 and asked.until_s == NOW + 900 and asked.intervals == 96 and asked.csv
