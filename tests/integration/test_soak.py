"""The chaos run of issue 26 (bench/soak.py), short: `vigil run` as a real process for three
minutes with two RTSP cameras whose servers are killed and restarted, a webhook receiver that goes
down and answers 503, mosquitto and one node of a 3-node NATS cluster restarted, the output tmpfs
filled and freed, SIGHUP reloads changing a camera and a sink, and streams added and deleted over
the API. Every event the daemon made reached the webhook, MQTT and NATS or was counted as dropped,
no sink stopped for good, every camera came back, and descriptors did not pile up.

Bounds are loose on purpose (a loaded 2-core machine): the figures of the one-hour run are in
the soak's own report, not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
CAMERA_BACK_S = 60.0  # far above the configured backoff (4 s): only "never came back" fails
FD_DRIFT = 60  # descriptors: the median of the last tenth minus the first, after warm-up


def test_a_three_minute_chaos_run_loses_nothing_unseen_and_everything_recovers(tmp_path):
    out = tmp_path / "soak.json"
    cmd = [
        sys.executable,
        str(SOAK),
        "--minutes",
        "3",
        "--cameras",
        "2",
        "--warmup-min",
        "0.5",
        "--tail-s",
        "40",
        "--sample-s",
        "2",
        "--tmpfs-mb",
        "192",
        "--seed",
        "7",
        "--out",
        str(out),
        "--workdir",
        str(tmp_path / "work"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20 * 60)
    assert out.exists(), f"the soak made no report (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    report = json.loads(out.read_text())
    summary = proc.stderr[-3000:]
    faults = report["faults"]
    for fault in ("camera server killed", "disk filled", "SIGHUP reload", "stream added over the API"):
        assert faults.get(fault), f"the run had no '{fault}': {faults}\n{summary}"
    assert report["events"]["made"] >= 20, summary  # the face made events all along
    assert report["goals"]["records_lost_unseen"] == 0, summary
    assert report["goals"]["sinks_stopped"] == [], summary
    cameras = report["cameras"]
    assert cameras["restarts"] >= 1 and cameras["not_back"] == [], summary
    assert cameras["back_max_s"] is not None and cameras["back_max_s"] <= CAMERA_BACK_S, summary
    assert abs(report["memory"]["fds_drift"]) <= FD_DRIFT, summary
    assert report["vigil_log_errors"] == [], summary
