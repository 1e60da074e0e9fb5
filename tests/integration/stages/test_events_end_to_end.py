"""A camera config with a line and a zone, on real video through the real model, the real
tracker and the zones stage, into a JSONL sink that takes results and events: the face that
moves left to right makes `object_start`, then `line_cross` `in`, then `zone_enter`, at the
frames the script puts them (within two frames, the detector's box edge wobbles)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.stages.test_tracking import face_clip
from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_source, make_stages
from vigil.engine import AutoModel
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.sinks.registry import build_sink

FRAMES, STEP = 100, 4  # face_clip moves the face STEP px a frame, left to right
LINE_X, ZONE_X = 240, 400


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("events") / "face.mp4", shown=[range(FRAMES)])


async def test_a_line_and_a_zone_make_the_scripted_events_in_order(clip, nudenet_path, tmp_path):
    out = tmp_path / "events.jsonl"
    text = f"""model:
  path: {nudenet_path}
sources:
  - name: cam
    url: {clip}
    tracking:
      classes: [FACE_FEMALE, FACE_MALE]
      track_activation_threshold: 0.5
      high_confidence_threshold: 0.5
    lines:
      - {{name: door, start: [{LINE_X}, 0], end: [{LINE_X}, 480]}}
    zones:
      - {{name: right, polygon: [[{ZONE_X}, 0], [640, 0], [640, 480], [{ZONE_X}, 480]]}}
sinks:
  - {{kind: jsonl, path: {out}, records: [results, events]}}
"""
    config = parse_config(text, "cam.yaml", {})
    sinks = [await build_sink(entry) for entry in config.sinks]
    model = AutoModel.from_pretrained(nudenet_path)
    try:
        pipeline = Pipeline(
            model,
            [make_source(s) for s in config.sources],
            sinks,
            PipelineOptions(max_batch=4),
            stages={s.name: make_stages(s) for s in config.sources},
        )
        await pipeline.run()
    finally:
        model.close()

    records = [json.loads(line) for line in out.read_text().splitlines()]
    events = [r for r in records if r.get("record") == "event"]
    assert [(e["type"], e.get("line") or e.get("zone"), e.get("direction")) for e in events] == [
        ("object_start", None, None),
        ("line_cross", "door", "in"),
        ("zone_enter", "right", None),
        ("zone_exit", "right", None),  # the clip ends with the face inside: its track ends with the source
        ("object_end", None, None),
    ]
    assert len({e["tracker_id"] for e in events}) == 1
    assert all(e["class_name"] in ("FACE_FEMALE", "FACE_MALE") for e in events)
    results = {r["seq"]: r for r in records if "record" not in r}
    assert len(results) == FRAMES
    # The face moves STEP px a frame: its box's bottom centre, x0 in the first frame, reaches x
    # at t = (x - x0) / STEP.
    (first,) = [d for d in results[0]["detections"] if d["class_name"].startswith("FACE")]
    x0 = (first["xyxy"][0] + first["xyxy"][2]) / 2
    start, cross, enter, exit_, end = (e["seq"] for e in events)
    assert exit_ == end == FRAMES - 1  # at the object's last sighting, the source's last frame
    assert events[-1]["first_seen"] == results[start]["capture_time"]
    assert events[-1]["last_seen"] == results[FRAMES - 1]["capture_time"]
    assert start <= 2
    assert abs(cross - (LINE_X - x0) / STEP) <= 2
    assert abs(enter - (ZONE_X - x0) / STEP) <= 2
    for e in events:  # an event's capture time is its frame's
        assert e["capture_time"] == results[e["seq"]]["capture_time"]
