"""bench/_fleet_breakdown.py: a hand-over's parts read back from both boxes' JSON log lines (as
vigil.fleet.journal writes them) and the times their results were made."""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from vigil.daemon.logs import JsonFormatter
from vigil.fleet.journal import log_started, log_stopped

BENCH = Path(__file__).resolve().parents[3] / "bench"


def _breakdown():
    sys.path.insert(0, str(BENCH))
    try:
        return __import__("_fleet_breakdown")
    finally:
        sys.path.remove(str(BENCH))


def _write(path: Path, at: float, emit) -> None:
    """One log line as a box writes it, made at unix time `at`."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("vigil.fleet.agent")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        emit()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    (record,) = records
    record.created = at
    with path.open("a") as out:
        out.write(JsonFormatter().format(record) + "\n")


def test_a_hand_over_in_parts(tmp_path: Path) -> None:
    base = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    (tmp_path / "a.log").write_text("not json\n")
    # a decides at +10.00, stops the camera 0.10 s, deletes the lease 0.02 s later (+10.12)
    _write(tmp_path / "a.log", base + 10.12, lambda: log_stopped("cam0", "handover", "b", 0.10, 0.02, True))
    # b holds the lease at +10.30, add_stream done at +10.35
    _write(tmp_path / "b.log", base + 10.35, lambda: log_started("cam0", "taken", "a", 0.01, 0.05))
    made = {"cam0": {"a": [base + 9.6, base + 9.8, base + 10.05], "b": [base + 10.95, base + 11.15]}}
    found = _breakdown().hand_overs({"a": tmp_path / "a.log", "b": tmp_path / "b.log"}, made)
    assert len(found) == 1
    parts = found[0]
    expected = {"decide": -0.05, "stop": 0.10, "release": 0.02, "react": 0.18, "start": 0.05, "first": 0.60, "dark": 0.90}
    assert parts == pytest.approx(expected, abs=0.002)  # the log's times are in milliseconds
    summary = _breakdown().summary(found)
    assert summary["n"] == 1 and summary["dark"] == {
        "median": pytest.approx(0.9, abs=0.002),
        "max": pytest.approx(0.9, abs=0.002),
    }


def test_no_hand_over_without_a_stop_a_release_and_a_result(tmp_path: Path) -> None:
    base = 1_800_000_000.0
    logs = {box: tmp_path / f"{box}.log" for box in "abc"}
    _write(logs["b"], base + 5, lambda: log_started("cam0", "failover", "a", 0.01, 0.05))  # a died: no stop
    made = {"cam0": {"a": [base + 1.0], "b": [base + 6.0]}}
    assert _breakdown().hand_overs(logs, made) == []
    # a stopped cam1 but its lease was left to expire (NATS unreachable): b took it later
    _write(logs["a"], base + 10, lambda: log_stopped("cam1", "handover", "b", 0.05, 1.0, False))
    _write(logs["b"], base + 16, lambda: log_started("cam1", "taken", "a", 0.01, 0.05))
    # c took cam2 from a and handed it on to b before making a result: not c's dark
    _write(logs["a"], base + 20, lambda: log_stopped("cam2", "handover", "c", 0.05, 0.01, True))
    _write(logs["c"], base + 20.2, lambda: log_started("cam2", "taken", "a", 0.01, 0.05))
    _write(logs["c"], base + 20.5, lambda: log_stopped("cam2", "handover", "b", 0.05, 0.01, True))
    # a handed cam3 to b, then lost b's lease (a NATS election) and took it back once it expired
    _write(logs["a"], base + 40, lambda: log_stopped("cam3", "handover", "b", 0.05, 0.01, True))
    _write(logs["b"], base + 40.1, lambda: log_started("cam3", "taken", "a", 0.01, 0.05))
    _write(logs["b"], base + 41, lambda: log_stopped("cam3", "handover", "a", 0.05, 0.01, True))
    _write(logs["a"], base + 41.1, lambda: log_started("cam3", "taken", "b", 0.01, 0.05))
    _write(logs["a"], base + 45, lambda: log_stopped("cam3", "lease_lost", None, 0.05, 1.0, False))
    _write(logs["a"], base + 49, lambda: log_started("cam3", "taken", "a", 0.01, 0.05))
    made |= {
        "cam1": {"a": [base + 9.9], "b": [base + 16.5]},
        "cam2": {"a": [base + 19.9], "c": [base + 30.0]},
        "cam3": {"a": [base + 39.9, base + 41.5, base + 49.5], "b": [base + 40.5, base + 40.7]},
    }
    found = _breakdown().hand_overs(logs, made)
    assert [round(h["dark"], 2) for h in found] == [0.6, 0.8]  # a->b, b->a; not the lease lost and taken again
    assert _breakdown().summary([]) == {"n": 0}
