"""bench/accuracy.py (issue 31), short form: one scripted scene through vigil (the real model and
pipeline) and through the plain approach (ByteTrack + supervision's LineZone) on the same
detections. Checks the report's shape and that every figure is computed from the runs; the
figures' values are the benchmark's (its JSON), not asserted here, beyond what the script fixes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "accuracy.py"


def test_the_short_form_reports_counts_speeds_and_tracking_for_both_approaches(tmp_path):
    out = tmp_path / "accuracy.json"
    cmd = [sys.executable, str(BENCH), "--short", "--out", str(out), "--workdir", str(tmp_path / "work")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert json.loads(done.stdout) == report
    assert list(report["scenes"]) == ["short"] and (tmp_path / "work" / "short.mp4").stat().st_size > 0
    scene = report["scenes"]["short"]
    assert scene["true_crossings"] == {"in": 1, "out": 1} and scene["failed"] is False  # the script: one walker each way
    for name in ("vigil", "plain"):
        counts, speed, tracking = scene[name]["counts"], scene[name]["speed"], scene[name]["tracking"]
        assert counts["true"] == {"in": 1, "out": 1}
        assert counts["error"] == abs(counts["found"]["in"] - 1) + abs(counts["found"]["out"] - 1)
        assert speed["measured"] > 0 and 0 <= speed["median_percent"] <= speed["p95_percent"]
        assert 0 < tracking["hota"] <= 1 and 0 < tracking["idf1"] <= 1 and tracking["id_switches"] >= 0
        assert "speed_errors" not in scene[name]  # pooled into the total, not printed per frame
        total = report["total"][name]
        assert total["count_error"] == counts["error"] and total["speed"] == speed
        assert total["count_error_percent"] == round(100.0 * counts["error"] / 2, 3)
    goals = report["total"]["goals"]
    assert set(goals) == {"count_error_at_most_1_percent_where_plain_is_worse", "median_speed_error_at_most_5_percent"}
    assert goals["median_speed_error_at_most_5_percent"] == (report["total"]["vigil"]["speed"]["median_percent"] <= 5.0)
