"""`vigil run` as a real subprocess on real H.264 clips with the real nudenet YOLOv8n."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import FACE_CLASSES, decoded_frame_count
from tests.unit.engine.test_auto_model import tiny_onnx


def vigil(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", *args], capture_output=True, text=True, timeout=timeout, check=False)


def read_jsonl(path: Path) -> dict[str, list[dict]]:
    by_source: dict[str, list[dict]] = defaultdict(list)
    for line in path.read_text().splitlines():
        record = json.loads(line)
        by_source[record["source"]].append(record)
    return by_source


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ERROR" in line or line.startswith("vigil: error")]


def test_two_clips_give_one_line_per_decoded_frame_in_order(tmp_path, clips, nudenet_path):
    out = tmp_path / "results.jsonl"
    proc = vigil(
        "run",
        "--model",
        str(nudenet_path),
        "--source",
        str(clips["astronaut"]),
        "--source",
        str(clips["coffee"]),
        "--out",
        str(out),
        "--max-batch",
        "4",
        "--image-size",
        "640",
    )
    assert proc.returncode == 0, proc.stderr
    records = read_jsonl(out)
    assert set(records) == {"astronaut", "coffee"}
    for name, path in clips.items():
        lines = records[name]
        assert len(lines) == decoded_frame_count(path)
        assert [r["seq"] for r in lines] == list(range(len(lines)))
        pts = [r["pts"] for r in lines]
        assert pts == sorted(pts) and len(set(pts)) == len(pts)
        assert all(r["model"] == "320n" for r in lines)
        assert all(r["capture_time"].endswith("Z") for r in lines)
    for r in records["astronaut"]:
        faces = [d for d in r["detections"] if d["class_name"] in FACE_CLASSES]
        assert faces, f"astronaut frame {r['seq']} has no face detection"
        x1, y1, x2, y2 = faces[0]["xyxy"]
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480 and faces[0]["confidence"] > 0.25
    assert "done:" in proc.stderr


def test_record_fields_follow_docs_output_schema(tmp_path, clips, nudenet_path):
    out = tmp_path / "r.jsonl"
    proc = vigil("run", "--model", str(nudenet_path), "--source", f"cam1={clips['astronaut']}", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text().splitlines()[0])
    assert set(record) == {"source", "seq", "pts", "capture_time", "model", "detections", "timing_ms"}
    assert record["source"] == "cam1"
    assert set(record["timing_ms"]) >= {"queue", "infer", "total"}
    assert record["timing_ms"]["total"] >= record["timing_ms"]["infer"] > 0
    assert set(record["detections"][0]) == {"class_id", "class_name", "confidence", "xyxy"}


@pytest.mark.parametrize("bad", ["missing", "not_a_video", "directory"])
def test_one_bad_source_does_not_stop_the_other(tmp_path, clips, nudenet_path, bad):
    if bad == "missing":
        path = tmp_path / "missing.mp4"
    elif bad == "not_a_video":
        path = tmp_path / "notes.mp4"
        path.write_text("this is a text file, not a video\n" * 50)
    else:
        path = tmp_path / "folder.mp4"
        path.mkdir()
    out = tmp_path / "results.jsonl"
    proc = vigil("run", "--model", str(nudenet_path), "--source", str(path), "--source", str(clips["coffee"]), "--out", str(out))
    assert proc.returncode == 1
    errors = error_lines(proc.stderr)
    assert len(errors) == 1, proc.stderr
    assert path.stem in errors[0] and str(path) in errors[0]
    assert "Traceback" not in proc.stderr
    assert len(read_jsonl(out)["coffee"]) == decoded_frame_count(clips["coffee"])


def model_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 not onnx" * 100)
    meta = {"names": "{0: 'a'}", "imgsz": "[224, 224]", "task": "classify"}
    return {
        "missing": (tmp_path / "absent.onnx", "not found"),
        "corrupt": (garbage, "onnxruntime could not load it"),
        "no_metadata": (tiny_onnx(tmp_path / "plain.onnx", {}), "not an Ultralytics YOLO export"),
        "classifier": (tiny_onnx(tmp_path / "cls.onnx", meta), "do not match a YOLO 'classify' head"),
    }


@pytest.mark.parametrize("case", ["missing", "corrupt", "no_metadata", "classifier"])
def test_bad_model_gives_one_clear_error_line(tmp_path, clips, case):
    path, message = model_cases(tmp_path)[case]
    out = tmp_path / "r.jsonl"
    proc = vigil("run", "--model", str(path), "--source", str(clips["coffee"]), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("vigil: error: model ")
    assert error_lines(proc.stderr) == [proc.stderr.strip().splitlines()[-1]]
    assert str(path) in proc.stderr and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_arguments_exit_2_with_the_field_named(tmp_path, clips, nudenet_path):
    proc = vigil(
        "run", "--model", str(nudenet_path), "--source", str(clips["coffee"]), "--out", str(tmp_path / "r"), "--confidence", "3"
    )
    assert proc.returncode == 2
    assert "model.confidence" in proc.stderr


def test_version_prints_and_exits_0():
    proc = vigil("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("vigil ")


def test_unwritable_output_is_one_clear_error(tmp_path, clips, nudenet_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    out = blocker / "results.jsonl"
    proc = vigil("run", "--model", str(nudenet_path), "--source", str(clips["coffee"]), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"vigil: error: sink 'jsonl': cannot open {out}")
    assert "Traceback" not in proc.stderr


def test_models_resolve_prints_every_package_with_rank_or_reason(tmp_path):
    from tests.model_packages import multi_package_model

    root = multi_package_model(tmp_path / "tiny", tmp_path)
    proc = vigil("models", "resolve", str(root), "--batch", "4")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[2:]}
    assert set(lines) == {"onnx-dyn", "onnx-b4", "onnx-b1", "onnx-opset99", "trt-orin"}
    assert lines["onnx-dyn"].endswith("rank 1") and lines["onnx-b4"].endswith("rank 2")  # batch 4: exact static fit next
    assert "refused: ONNX opset 99 is newer" in lines["onnx-opset99"]
    assert "refused: backend 'trt' is not installed" in lines["trt-orin"]

    none_fit = vigil("models", "resolve", str(root), "--backend", "trt")
    assert none_fit.returncode == 1 and none_fit.stdout.count("refused:") == 5


def test_max_fps_samples_every_source(tmp_path, clips, nudenet_path):
    out = tmp_path / "r.jsonl"
    proc = vigil("run", "--model", str(nudenet_path), "--source", str(clips["astronaut"]), "--out", str(out), "--max-fps", "10")
    assert proc.returncode == 0, proc.stderr
    pts = [json.loads(line)["pts"] for line in out.read_text().splitlines()]
    assert len(pts) == 8  # 24 frames at 30 fps, every third kept
    assert min(b - a for a, b in zip(pts, pts[1:])) >= 0.099


def _without_ci_or_systemd() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("CI", "JOURNAL_STREAM", "INVOCATION_ID")}


def vigil_on_a_terminal(*args: str, timeout: float = 120) -> tuple[int, str]:
    """`vigil ARGS` with stderr on a pseudo-terminal (120 columns): its exit code and what it showed."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=_without_ci_or_systemd(),
    )
    os.close(slave)
    shown, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
        return proc.wait(timeout=30), shown.decode()
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def test_a_terminal_shows_progress_per_source_without_garbling_the_log(tmp_path, clips, nudenet_path):
    code, shown = vigil_on_a_terminal(
        "run",
        "--model",
        str(nudenet_path),
        "--source",
        str(clips["astronaut"]),
        "--source",
        str(clips["coffee"]),
        "--out",
        str(tmp_path / "r.jsonl"),
    )
    assert code == 0, shown
    assert "astronaut 24/24" in shown and "coffee 18/18" in shown and "42/42" in shown, shown
    assert re.search(r"\d+\.\d+ frames/s", shown) and "\r" in shown
    # What stays on screen: each line's text after its last carriage return. Log lines are whole.
    visible = [line.rsplit("\r", 1)[-1] for line in shown.split("\r\n")]
    logged = [line for line in visible if " INFO " in line]
    assert any("source 'astronaut': ended" in line for line in logged), shown
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO ", line) for line in logged), shown
    assert not any("█" in line or "%|" in line for line in logged), shown
    assert any(line.startswith("vigil: 100%|") and "42/42" in line for line in visible), shown  # the final count stays


def test_no_progress_in_json_logs_even_on_a_terminal(tmp_path, clips, nudenet_path):
    code, shown = vigil_on_a_terminal(
        "--log-format",
        "json",
        "run",
        "--model",
        str(nudenet_path),
        "--source",
        str(clips["coffee"]),
        "--out",
        str(tmp_path / "r.jsonl"),
    )
    assert code == 0, shown
    lines = shown.strip().split("\r\n")
    assert all(json.loads(line)["message"] for line in lines)  # nothing but JSON lines
    assert "\r" not in shown.replace("\r\n", "\n") and "frames/s," not in shown


def test_no_progress_when_stderr_is_a_pipe(tmp_path, clips, nudenet_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil",
            "--log-format",
            "text",
            "run",
            "--model",
            str(nudenet_path),
            "--source",
            str(clips["coffee"]),
            "--out",
            str(tmp_path / "r.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_without_ci_or_systemd(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "done: 18 results" in proc.stderr
    assert "\r" not in proc.stderr and "█" not in proc.stderr and "%|" not in proc.stderr
    assert "coffee 18" not in proc.stderr and "frames/s," not in proc.stderr
