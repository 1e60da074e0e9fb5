"""The demo's events step: its line and zone sit on the face's path in the clip it films (found
by the real YOLOv8n), each event is one short line, and its check fails clearly when the face
makes no crossing (a run with the line moved off the path)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import av
import pytest

from vigil.cli import demo
from vigil.cli.demo import DemoCheckError, check_events, demo_shapes, event_line, make_demo_clip
from vigil.engine import AutoModel
from vigil.events import Event


def face_centre_x(model: Any, frame: Any) -> float:
    dets = model([frame])[0]
    [box] = [xyxy for xyxy, name in zip(dets.xyxy, dets.class_name) if name == "FACE_FEMALE"]
    return float(box[0] + box[2]) / 2


@pytest.mark.parametrize("seconds", [2.0, 6.0])
def test_the_line_and_zone_stand_where_the_face_is_at_35_and_55_percent_of_the_clip(tmp_path, nudenet_path, seconds):
    clip = make_demo_clip(tmp_path / "demo.mp4", seconds)
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    shapes = demo_shapes(seconds)
    line_x = shapes["lines"][0]["start"][0]
    zone_x = shapes["zones"][0]["polygon"][1][0]
    model = AutoModel.from_pretrained(nudenet_path, image_size=640)
    try:
        at_line = face_centre_x(model, frames[round(0.35 * len(frames))])
        at_zone = face_centre_x(model, frames[round(0.55 * len(frames))])
        first, last = face_centre_x(model, frames[0]), face_centre_x(model, frames[-1])
    finally:
        model.close()
    assert abs(at_line - line_x) <= 8 and abs(at_zone - zone_x) <= 8
    assert first > line_x > zone_x > last  # right to left: across the line, then into the zone


def test_an_event_is_one_short_line_with_time_source_type_place_direction_and_track():
    at = datetime(2026, 11, 29, 6, 25, 1, 733_000, tzinfo=timezone.utc)
    cross = Event("line_cross", "file", 3, "FACE_FEMALE", 0, at, 12, line="door", direction="in")
    enter = Event("zone_enter", "file", 3, "FACE_FEMALE", 0, at, 15, zone="dock")
    assert event_line(cross) == "event 06:25:01.733 file line_cross line=door in track=3 (FACE_FEMALE)"
    assert event_line(enter) == "event 06:25:01.733 file zone_enter zone=dock track=3 (FACE_FEMALE)"


@pytest.mark.parametrize(
    "counts, missing",
    [
        ({"object_start": 1, "zone_enter": 1, "object_end": 1}, "no line_cross event"),
        ({"object_start": 1, "line_cross": 2}, "no zone_enter event"),
        ({}, "no line_cross and no zone_enter event"),
    ],
)
def test_the_check_names_the_events_that_did_not_come(counts, missing, tmp_path):
    with pytest.raises(DemoCheckError, match=missing) as caught:
        check_events(counts, tmp_path)
    assert "line 'door'" in str(caught.value) and str(tmp_path / "video") in str(caught.value)
    check_events({"line_cross": 1, "zone_enter": 1}, tmp_path)  # both seen: passes


async def test_the_demo_fails_clearly_when_the_face_never_crosses(tmp_path, monkeypatch):
    def off_path(seconds: float = 8.0, fps: int = 15) -> dict[str, Any]:
        shapes = demo_shapes(seconds, fps)
        shapes["lines"] = [{"name": "door", "start": [630, 470], "end": [630, 10]}]  # right of the face, always
        return shapes

    monkeypatch.setattr(demo, "demo_shapes", off_path)
    said: list[str] = []
    with pytest.raises(DemoCheckError, match="no line_cross event") as caught:
        await demo.run_demo(tmp_path / "out", seconds=2.0, say=said.append)
    assert '"zone_enter": 1' in str(caught.value)  # the zone still worked, and the message says what came
    assert any(" zone_enter zone=dock " in line for line in said) and not any("line_cross" in line for line in said)
    assert (tmp_path / "out" / "results.jsonl").is_file()  # the outputs it points at are there
