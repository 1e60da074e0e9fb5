"""bench/decode.py (issue 28), short form: real RTSP cameras (tests/support/rtsp_server.py, looping
1080p main streams and 360p substreams) and a real `vigil run` per mode; the report's shape, every
measured run's CPU and frame rates positive, each mode's picture the size it claims, and the
goals' verdicts computed from the runs (or saying why they cannot be). No speed is asserted: the
figures are the benchmark's, in its own report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
DECODE = BENCH / "decode.py"
PICTURES = {"main": [1920, 1080], "scaled": [320, 180], "sub": [640, 360], "subonly": [640, 360]}  # scaled: 'model', a 320 input


def _bench(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.serial  # 1080p cameras in real time beside vigil: wants the machine to itself
def test_the_short_form_measures_every_mode_or_says_why_not(tmp_path):
    out = tmp_path / "decode.json"
    cmd = [sys.executable, str(DECODE), "--cameras", "2", "--seconds", "5", "--warmup", "2", "--clip-s", "4"]
    cmd += [
        "--models",
        "off",
        "--breakdown",
        "--cache",
        str(tmp_path / "cache"),
        "--workdir",
        str(tmp_path / "runs"),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=15 * 60)
    assert proc.returncode == 0 and out.exists(), f"exit {proc.returncode}:\n{proc.stderr[-4000:]}"
    report = json.loads(out.read_text())
    assert json.loads(proc.stdout) == report
    assert report["cameras"] == 2 and report["window_s"] == 5 and report["rtsp_servers"] >= 1
    labels = [run["label"] for run in report["runs"]]
    expected = [f"{m}/{d}/model off" for m in ("main", "scaled", "sub") for d in ("pyav", "gstreamer")]
    breakdown = ["subonly/pyav/model off", "subonly/gstreamer/model off"]
    assert labels == [*expected, *breakdown, "sub+gate/pyav/model off", "sub+gate/gstreamer/model off"]
    by_label = {run["label"]: run for run in report["runs"]}
    assert by_label["main/pyav/model off"]["available"], "today's mode (detect on main, PyAV) must always run"
    for run in report["runs"]:
        if not run["available"]:
            assert run["reason"], run
            continue
        assert "failed" not in run, f"{run['label']} failed: {run['failed']}\n{proc.stderr[-3000:]}"
        assert run["cpu_per_camera_pct"] > 0 and run["vigil_cores"] > 0 and run["server_cores"] > 0, run
        assert run["fps_per_camera"]["seen"] > 0 and run["fps_per_camera"]["frames_in"] > 0, run
        assert run["picture"] == PICTURES[run["mode"]], run
    off = report["goals"]["model off"]
    assert set(off) >= {"sub vs main [pyav]", "scaled vs main [pyav]", "gstreamer vs pyav [main]"}
    for verdict in off.values():
        assert ("ratio" in verdict and verdict["ratio"] > 0 and isinstance(verdict["pass"], bool)) or verdict["status"], verdict
    assert all("not measured" in v["status"] for v in report["goals"]["model on"].values())
    if by_label["sub/pyav/model off"]["available"]:  # sub minus subonly: the record input's demuxing
        assert isinstance(report["record_input_cpu_per_camera_pct"]["pyav"], float)


def run(mode: str, decoder: str, cpu: float, *, kept_up: bool = True, gate: bool = False, model: str = "off") -> dict:
    label = f"{mode}{'+gate' if gate else ''}/{decoder}/model {model}"
    return {"label": label, "mode": mode, "decoder": decoder, "model": model, "gate": gate, "available": True,
            "cpu_per_camera_pct": cpu, "vigil_cores": cpu * 16 / 100, "server_cores": 0.1, "kept_up": kept_up,
            "fps_per_camera": {"seen": 25.0, "frames_in": 5.0, "frames_inferred": 5.0}, "picture": [1920, 1080]}  # fmt: skip


def test_the_goals_are_ratios_of_the_runs_with_pass_or_fail():
    report = _bench("_decode_report")
    runs = [run("main", "pyav", 8.0), run("sub", "pyav", 1.6), run("scaled", "pyav", 6.0), run("main", "gstreamer", 9.0)]
    runs.append(run("sub", "pyav", 5.0, gate=True))
    goals = report.goals(runs, 16)["model off"]
    assert goals["sub vs main [pyav]"] == {"goal": ">= 4x less", "ratio": 5.0, "pass": True}
    assert goals["scaled vs main [pyav]"] == {"goal": ">= 1.5x less", "ratio": 1.33, "pass": False}
    assert goals["gstreamer vs pyav [main]"] == {"goal": "<= 1.2x pyav", "ratio": 1.12, "pass": True}
    p6 = report.goals(runs, 16)["P6 (sub + gate, model off)"]
    assert p6["pyav"] == {"goal": "<= 1 core", "cores": 0.8, "cameras": 16, "pass": True}
    assert "not measured" in p6["gstreamer"]["status"] and p6["gstreamer"]["pass"] is None


def test_a_goal_whose_run_is_missing_or_slow_says_so():
    report = _bench("_decode_report")
    missing = {"label": "sub/pyav/model off", "mode": "sub", "decoder": "pyav", "model": "off", "gate": False}
    runs = [run("main", "pyav", 8.0, kept_up=False), {**missing, "available": False, "reason": "config refused: inputs"}]
    runs.append(run("scaled", "pyav", 4.0))
    goals = report.goals(runs, 16)["model off"]
    assert goals["sub vs main [pyav]"]["pass"] is None
    assert "not available (config refused: inputs)" in goals["sub vs main [pyav]"]["status"]
    assert goals["scaled vs main [pyav]"]["pass"] is True
    assert "main/pyav/model off did not keep up" in goals["scaled vs main [pyav]"]["note"]
    table = report.summary_table(runs)
    assert "not available (config refused: inputs)" in table and "8.00" in table


def test_a_mode_vigil_refuses_is_reported_not_available():
    decode = _bench("decode")
    config = {
        "model": {"path": "/nonexistent/model.onnx"},
        "sources": [{"name": "cam00", "kind": "rtsp", "url": "rtsp://127.0.0.1:9/x", "no_such_setting": 1}],
        "sinks": [{"kind": "jsonl", "path": "x.jsonl"}],
    }
    reason = decode.unavailable(config, "pyav")
    assert reason is not None and reason.startswith("config refused") and "no_such_setting" in reason
