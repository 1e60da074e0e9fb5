"""bench/fleet.py (issue 29): its short form end to end (a 3-node NATS cluster, real `vigil run`
boxes, RTSP test cameras; every scenario once on 3 cameras), the report's shape and its verdicts
computed from its own figures; and the figures' arithmetic on made-up records. No speed is
asserted: the times are the benchmark's, in its report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _fleet():
    sys.path.insert(0, str(BENCH))
    try:
        return __import__("fleet")
    finally:
        sys.path.remove(str(BENCH))


def test_the_figures_from_made_up_records() -> None:
    fleet = _fleet()
    frames = [100 + i * 0.2 for i in range(11)]  # 100.0 .. 102.0
    later = [105 + i * 0.2 for i in range(6)]  # 105.0 .. 106.0: dark 102 -> 105
    assert fleet.dark_seconds({"cam": {"a": frames, "b": later}}, 99.0, 1.0) == pytest.approx(3.0 - 0.2)
    assert fleet.double_seconds({"cam": {"a": frames, "b": later}}) == 0.0
    overlapping = [101 + i * 0.2 for i in range(6)]  # 101.0 .. 102.0 while a still runs
    assert fleet.double_seconds({"cam": {"a": frames, "b": overlapping}}) == pytest.approx(1.0)
    assert fleet.distribution([]) == {"n": 0}
    assert fleet.distribution([3.0, 1.0, 2.0, 10.0]) == {"n": 4, "p50": 2.5, "p95": 10.0, "max": 10.0}


@pytest.mark.serial  # 3 to 4 vigil processes and a NATS cluster: wants the machine to itself
def test_the_short_form_runs_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    cmd = [
        sys.executable,
        str(BENCH / "fleet.py"),
        "--rounds",
        "1",
        "--cameras",
        "4",  # 4 on 4 boxes once d joins: even (+-1) then gives d one, so the join always moves a camera
        "--workdir",
        str(tmp_path),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=25 * 60)
    assert proc.returncode == 0 and out.exists(), f"exit {proc.returncode}:\n{proc.stderr[-4000:]}"
    report = json.loads(out.read_text())
    assert json.loads(proc.stdout) == report
    assert (report["rounds"], report["cameras"]) == (1, 4)
    assert list(report["scenarios"]) == ["kill", "cutoff", "join", "rolling"]
    for name, figures in report["scenarios"].items():
        times = figures["time_s"]
        assert times["n"] >= 1 and 0 < times["p50"] <= times["p95"] <= times["max"], (name, times)
        assert figures["double_run_s"] == 0.0, (name, figures["rounds"][0]["double_runs"])
        assert figures["dark_camera_s"] >= 0 and figures["events_stored_twice"] == 0, (name, figures)
        verdict = times["p95"] <= figures["goal_s"] and figures["double_run_s"] == 0 and figures["events_lost"] == 0
        assert figures["pass"] == verdict, (name, figures)
    rolling = report["scenarios"]["rolling"]
    assert rolling["events"] > 0 and rolling["events_lost"] == 0, rolling  # SIGTERM: every event reaches the stream
