"""`vigil eval` as a real subprocess: the real nudenet model and tracker over a scripted clip (two
faces crossing a line in opposite directions), scored against ground truth written from the
script (exact counts, speeds near the truth) and against vigil's own tracks (HOTA/IDF1 1.0, no
ID switch; the two ids swapped halfway: two switches)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.cli.test_cli_run import vigil
from tests.support.scripted_clip import Actor, Scene, render

# The detected face box relative to the crop's top-left corner, and its size (what nudenet finds).
BOX_OFFSET, BOX_SIZE = (55, 69), (98, 99)
SCENE = Scene(
    (
        Actor("a", path=((0, 0, 10), (4, 460, 10)), shown=((0, 4),)),
        Actor("b", path=((0, 460, 250), (4, 0, 250)), shown=((0, 4),)),
    ),
    duration_s=4,
)
# 40 px a metre without perspective: 115 px/s is 2.875 m/s
SPEED = "{image: [[0, 0], [640, 0], [640, 480], [0, 480]], world: [[0, 0], [16, 0], [16, 12], [0, 12]]}"
FLAGS = ["--classes", "FACE_FEMALE,FACE_MALE", "--lines", "door=320,0,320,480", "--speed", SPEED]


def script_truth(path: Path) -> Path:
    rows = []
    for frame in range(SCENE.frames):
        for ident, actor in enumerate(SCENE.actors, 1):
            if actor.visible(SCENE.time(frame)):
                x, y = actor.at(SCENE.time(frame))
                rows.append(f"{frame + 1},{ident},{x + BOX_OFFSET[0]},{y + BOX_OFFSET[1]},{BOX_SIZE[0]},{BOX_SIZE[1]},1,1,1")
    path.write_text("\n".join(rows) + "\n")
    return path


def records_truth(records: Path, path: Path, swapped_from: int | None = None) -> Path:
    """vigil's own tracked boxes as ground truth (ids 1 and 2); from frame `swapped_from` on, the two ids swapped."""
    rows = []
    for line in records.read_text().splitlines():
        record = json.loads(line)
        if "record" in record:
            continue
        for d in record["detections"]:
            if d.get("tracker_id", -1) < 0:
                continue
            ident = d["tracker_id"] + 1
            if swapped_from is not None and record["seq"] + 1 >= swapped_from:
                ident = {1: 2, 2: 1}[ident]
            x1, y1, x2, y2 = d["xyxy"]
            rows.append(f"{record['seq'] + 1},{ident},{x1},{y1},{x2 - x1},{y2 - y1},1,1,1")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, nudenet_path: Path) -> dict:
    folder = tmp_path_factory.mktemp("eval")
    clip = render(SCENE, folder / "two.mp4")
    report, records = folder / "report.json", folder / "records.jsonl"
    args = [str(clip), "--truth", str(script_truth(folder / "gt.txt")), "--model", str(nudenet_path), *FLAGS]
    done = vigil("eval", *args, "--json", str(report), "--records", str(records))
    assert done.returncode == 0, done.stderr
    return {"clip": clip, "folder": folder, "stdout": done.stdout, "report": json.loads(report.read_text()), "records": records}


def test_the_scripted_truth_gives_exact_counts_and_speeds_near_it(scored):
    report = scored["report"]
    door = report["counts"]["lines"]["door"]
    assert door["true"] == {"in": 1, "out": 1} and door["found"] == {"in": 1, "out": 1} and door["error"] == 0
    assert report["counts"]["error_percent"] == 0
    assert report["speed"]["measured"] >= 2 * (SCENE.frames - 30), report["speed"]
    assert report["speed"]["median_percent"] <= 5.0, report["speed"]
    tracking = report["tracking"]
    assert tracking["id_switches"] == 0 and tracking["idf1"] >= 0.95 and 0.5 < tracking["hota"] < 1.0, tracking
    assert report["truth"]["ids"] == 2 and report["frames"] == SCENE.frames
    assert "line door: in 1 (true 1), out 1 (true 1), error 0" in scored["stdout"]
    assert "ID switches 0" in scored["stdout"] and "HOTA" in scored["stdout"]


def _eval(scored: dict, gt: Path, nudenet_path: Path) -> dict:
    out = gt.with_suffix(".json")
    done = vigil("eval", str(scored["clip"]), "--truth", str(gt), "--model", str(nudenet_path), *FLAGS, "--json", str(out))
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def test_vigils_own_tracks_as_truth_score_perfectly(scored, nudenet_path):
    report = _eval(scored, records_truth(scored["records"], scored["folder"] / "own.txt"), nudenet_path)
    assert report["tracking"]["hota"] == 1.0 and report["tracking"]["idf1"] == 1.0
    assert report["tracking"]["id_switches"] == 0 and report["tracking"]["mota"] == 1.0
    assert report["speed"]["median_percent"] <= 0.5, report["speed"]  # the same boxes: only the records' rounding


def test_a_truth_whose_ids_swap_halfway_gives_two_id_switches(scored, nudenet_path):
    gt = records_truth(scored["records"], scored["folder"] / "swapped.txt", swapped_from=SCENE.frames // 2)
    report = _eval(scored, gt, nudenet_path)
    assert report["tracking"]["id_switches"] == 2, report["tracking"]  # each true object changes track once
    assert report["tracking"]["idf1"] < 1.0 and report["tracking"]["hota"] < 1.0


def test_bad_ground_truth_names_its_line(scored, nudenet_path, tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,10,10,50,50,1,1,1\n2,1,12,10,fifty,50,1,1,1\n")
    done = vigil("eval", str(scored["clip"]), "--truth", str(gt), "--model", str(nudenet_path))
    assert done.returncode == 2
    assert f"{gt} line 2: not a number" in done.stderr and "Traceback" not in done.stderr


def test_a_clip_that_cannot_be_read_is_named(scored, nudenet_path, tmp_path):
    clip = tmp_path / "broken.mp4"
    clip.write_bytes(b"not a video" * 100)
    done = vigil("eval", str(clip), "--truth", str(script_truth(tmp_path / "gt.txt")), "--model", str(nudenet_path))
    assert done.returncode == 2
    assert f"cannot read the clip {clip}" in done.stderr and "Traceback" not in done.stderr


def test_config_or_model_is_required(scored, tmp_path):
    done = vigil("eval", str(scored["clip"]), "--truth", str(script_truth(tmp_path / "gt.txt")))
    assert done.returncode == 2 and "give --config YAML or --model PATH" in done.stderr


def test_a_config_files_model_and_source_settings_are_used(scored, nudenet_path, tmp_path):
    config = tmp_path / "vigil.yaml"
    config.write_text(
        f"""model: {{path: {nudenet_path}}}
sources:
  - name: other
    url: rtsp://camera.invalid/stream
  - name: hall
    url: /nowhere/camera.mp4
    tracking: {{classes: [FACE_FEMALE, FACE_MALE]}}
    lines: [{{name: hallway, start: [320, 480], end: [320, 0]}}]
sinks: [{{kind: jsonl, path: {tmp_path / "unused.jsonl"}}}]
"""
    )
    gt = str(script_truth(tmp_path / "gt.txt"))
    out = tmp_path / "report.json"
    done = vigil("eval", str(scored["clip"]), "--truth", gt, "--config", str(config), "--source", "hall", "--json", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["counts"]["lines"]["hallway"] == {"true": {"in": 1, "out": 1}, "found": {"in": 1, "out": 1}, "error": 0}
    assert "speed" not in report and not (tmp_path / "unused.jsonl").exists()
    missing = vigil("eval", str(scored["clip"]), "--truth", gt, "--config", str(config), "--source", "yard")
    assert missing.returncode == 2 and "--source yard: no such source" in missing.stderr and "other, hall" in missing.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--lines", "door=1,2,3"], "--lines 'door=1,2,3': expected NAME=X1,Y1,X2,Y2"),
        (["--speed", "{image: [[0, 0]], world: [[0, 0]]}"], "sources.0.speed"),
        (["--speed", "{image: [[0, 0]"], "--speed: not YAML"),
    ],
)
def test_bad_flags_are_refused_with_what_to_give(scored, nudenet_path, tmp_path, flags, message):
    gt = str(script_truth(tmp_path / "gt.txt"))
    done = vigil("eval", str(scored["clip"]), "--truth", gt, "--model", str(nudenet_path), *flags)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_frames_sampled_away_by_max_fps_are_not_counted_as_misses(scored, nudenet_path, tmp_path):
    config = tmp_path / "vigil.yaml"
    config.write_text(
        f"""model: {{path: {nudenet_path}}}
sources:
  - {{name: cam, url: /nowhere.mp4, max_fps: 5, tracking: {{classes: [FACE_FEMALE, FACE_MALE]}}}}
sinks: [{{kind: jsonl, path: {tmp_path / "unused.jsonl"}}}]
"""
    )
    out = tmp_path / "report.json"
    gt = records_truth(scored["records"], tmp_path / "own.txt")  # every frame's boxes, at 15 fps
    done = vigil("eval", str(scored["clip"]), "--truth", str(gt), "--config", str(config), "--json", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["frames"] == SCENE.frames and abs(report["frames_scored"] - SCENE.frames / 3) <= 2, report
    assert report["tracking"]["deta"] > 0.9 and report["tracking"]["id_switches"] == 0, report["tracking"]
    assert f"{SCENE.frames} frames at 15 fps, {report['frames_scored']} run and scored" in done.stdout
