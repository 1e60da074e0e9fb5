"""The snapshot sink saving events (`records: [events]`) on real frames with the real nudenet
YOLOv8n's face box, read back with OpenCV: the frame with the box drawn, the crop, the record;
the types it keeps, a full queue, the kinds refused; and a camera config with a zone on real
video, whose object's best picture holds the face."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from tests.conftest import FACE_CLASSES, photo
from tests.integration.sinks.test_video_snapshot_sinks import astronaut, faces, results  # noqa: F401  (fixtures)
from tests.integration.stages.test_tracking import SIZE, face_clip
from tests.support.results import T0
from vigil import Frame
from vigil.config import PipelineConfig
from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_source, make_stages
from vigil.engine import AutoModel, Detections
from vigil.events import Event
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.sinks import SnapshotSink
from vigil.sinks.registry import build_sink


def face_event(image: np.ndarray, dets: Detections, **fields) -> Event:
    """A `zone_enter` of the first face in `dets`, about frame 5 of cam1 showing `image`."""
    i = next(i for i, name in enumerate(dets.class_name) if name in FACE_CLASSES)
    box = tuple(float(v) for v in dets.xyxy[i])
    frame = Frame("cam1", 5, 5 / 30, T0, image)
    base = dict(
        type="zone_enter",
        source="cam1",
        tracker_id=3,
        class_name=str(dets.class_name[i]),
        class_id=int(dets.class_id[i]),
        capture_time=T0,
        seq=5,
        confidence=0.78,
        zone="yard",
        box=box,
        frame=frame,
    )
    return Event(**{**base, **fields})


async def save(sink: SnapshotSink, events: list[Event]) -> None:
    await sink.start()
    try:
        for event in events:
            await sink.publish_event(event)
            await sink.flush()  # at a pace the sink keeps up with: dropping has a test of its own
    finally:
        await sink.close()


def read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).mean(axis=2)


async def test_an_event_is_saved_as_its_frame_with_the_box_drawn_its_crop_and_its_record(tmp_path, astronaut, faces):
    event = face_event(astronaut, faces)
    sink = SnapshotSink(tmp_path)
    await save(sink, [event])

    folder = tmp_path / "cam1" / "events"
    stem = event.event_id
    assert sorted(p.name for p in folder.iterdir()) == [f"{stem}-crop.jpg", f"{stem}.jpg", f"{stem}.json"]
    assert sink.written == 1 and sink.dropped == 0
    assert json.loads((folder / f"{stem}.json").read_text()) == event.to_record()

    x1, y1, x2, y2 = event.box  # the crop: 10% of the box's size more on each side
    mx, my = (x2 - x1) / 10, (y2 - y1) / 10
    top, left = int(np.floor(y1 - my)), int(np.floor(x1 - mx))
    bottom, right = int(np.ceil(y2 + my)), int(np.ceil(x2 + mx))
    expected = astronaut[top:bottom, left:right]
    crop = read(folder / f"{stem}-crop.jpg")
    assert crop.shape == expected.shape
    assert difference(crop, expected).mean() < 4  # only JPEG's loss: nothing drawn on the crop

    picture = read(folder / f"{stem}.jpg")
    assert picture.shape == astronaut.shape
    diff = difference(picture, astronaut)
    x1, y1, x2, y2 = (round(v) for v in event.box)
    assert diff[y1 + 5 : y2 - 5, x1 - 1 : x1 + 2].mean() > 40  # the box's left edge
    assert diff[y1 - 12 : y1 - 3, x1 + 2 : x1 + 60].mean() > 40  # its label, above the box
    assert diff[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10].mean() < 6  # inside the box: the frame itself


async def test_only_the_event_types_asked_for_are_saved(tmp_path, astronaut, faces):
    start = face_event(astronaut, faces, type="object_start", zone=None, seq=1)
    enter = face_event(astronaut, faces, seq=2)
    end = face_event(astronaut, faces, type="object_end", zone=None, seq=3, extra={"best": {"seq": 3}})
    sink = SnapshotSink(tmp_path, event_types={"object_end", "dwell"})
    await save(sink, [start, enter, end])

    names = sorted(p.name for p in (tmp_path / "cam1" / "events").iterdir())
    assert names == sorted(f"{end.event_id}{suffix}" for suffix in ("-crop.jpg", ".jpg", ".json"))
    assert sink.written == 1


async def test_an_event_without_a_frame_gets_its_record_and_one_without_a_box_no_crop(tmp_path, astronaut, faces):
    frameless = face_event(astronaut, faces, frame=None, seq=1)
    boxless = face_event(astronaut, faces, box=None, seq=2)
    sink = SnapshotSink(tmp_path)
    await save(sink, [frameless, boxless])

    folder = tmp_path / "cam1" / "events"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f"{frameless.event_id}.json", f"{boxless.event_id}.jpg", f"{boxless.event_id}.json"])
    assert difference(read(folder / f"{boxless.event_id}.jpg"), astronaut).mean() < 4  # nothing drawn
    assert json.loads((folder / f"{frameless.event_id}.json").read_text()) == frameless.to_record()


async def test_a_full_queue_drops_and_counts_events_instead_of_waiting(tmp_path, astronaut, faces, caplog):
    events = [face_event(astronaut, faces, seq=seq) for seq in range(100)]
    sink = SnapshotSink(tmp_path, queue_size=1)
    await sink.start()
    with caplog.at_level(logging.WARNING, logger="vigil.sinks"):
        t0 = time.perf_counter()
        for event in events:
            await sink.publish_event(event)
        publish_s = time.perf_counter() - t0
        await sink.close()
    assert publish_s < 0.5  # 100 events; encoding one picture takes milliseconds
    assert sink.dropped > 0 and sink.written + sink.dropped == len(events)
    assert sink.stats().dropped == sink.dropped
    folder = tmp_path / "cam1" / "events"
    saved = {p.stem for p in folder.glob("*.json")}
    assert len(saved) == sink.written and all((folder / f"{stem}.jpg").is_file() for stem in saved)
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("dropping results of source 'cam1'" in w for w in warnings) == 1


async def test_a_burst_of_events_on_one_frame_is_saved_whole(tmp_path, astronaut, faces):
    # Several objects ending at once (the source ended): their events arrive together.
    events = [face_event(astronaut, faces, type="object_end", zone=None, tracker_id=i) for i in range(12)]
    sink = SnapshotSink(tmp_path)
    await sink.start()
    for event in events:
        await sink.publish_event(event)
    await sink.close()
    assert sink.written == 12 and sink.dropped == 0
    assert len(list((tmp_path / "cam1" / "events").glob("*-crop.jpg"))) == 12


def _entry(kind: str, directory: Path, records: list[str]):
    config = PipelineConfig.model_validate(
        {
            "model": {"path": "unused.onnx"},
            "sources": [{"name": "cam", "url": "cam.mp4"}],
            "sinks": [{"kind": kind, "directory": str(directory), "records": records}],
        }
    )
    return config.sinks[0]


async def test_a_snapshot_sink_given_results_and_events_saves_both(tmp_path, astronaut, faces):
    sink = await build_sink(_entry("snapshot", tmp_path, ["results", "events"]))
    assert sink.records == {"results", "events"} and isinstance(sink, SnapshotSink)
    [result] = results(astronaut, faces, [0.0])
    event = face_event(astronaut, faces)
    await sink.start()
    try:
        await sink.publish(result)
        await sink.publish_event(event)
    finally:
        await sink.close()
    assert sorted(p.name for p in (tmp_path / "cam1").glob("*.json")) == ["cam1_20261124T003112.000Z.json"]
    assert (tmp_path / "cam1" / "events" / f"{event.event_id}.json").is_file()
    assert sink.written == 2


async def test_a_snapshot_sink_may_take_events_only_and_a_video_sink_may_not(tmp_path):
    sink = await build_sink(_entry("snapshot", tmp_path / "s", ["events"]))
    assert sink.records == {"events"}
    with pytest.raises(ValidationError, match=r"a video sink cannot take events"):
        _entry("video", tmp_path / "v", ["events"])


FRAMES = 100  # face_clip moves the face 4 px a frame, left to right: it enters the zone at x 400


def clip_frame(t: int) -> np.ndarray:
    """Frame `t` of face_clip as it was before encoding."""
    face = photo("astronaut")[10:230, 120:300]
    image = cv2.resize(photo("coffee"), SIZE, interpolation=cv2.INTER_AREA)
    image[120 : 120 + face.shape[0], 4 * t : 4 * t + face.shape[1]] = face
    return image


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("snapshots") / "face.mp4", shown=[range(FRAMES)])


async def test_a_zone_on_a_camera_saves_one_picture_per_event_and_the_best_crop_shows_the_face(clip, nudenet_path, tmp_path):
    text = f"""model:
  path: {nudenet_path}
sources:
  - name: cam
    url: {clip}
    tracking:
      classes: [FACE_FEMALE, FACE_MALE]
      track_activation_threshold: 0.5
      high_confidence_threshold: 0.5
    zones:
      - {{name: right, polygon: [[400, 0], [640, 0], [640, 480], [400, 480]]}}
sinks:
  - {{kind: snapshot, directory: {tmp_path / "snapshots"}, records: [events]}}
  - {{kind: jsonl, path: {tmp_path / "events.jsonl"}, records: [events]}}
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

        events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
        assert [e["type"] for e in events] == ["object_start", "zone_enter", "zone_exit", "object_end"]
        folder = tmp_path / "snapshots" / "cam" / "events"
        pictures = {p.stem for p in folder.glob("*.jpg") if not p.stem.endswith("-crop")}
        assert pictures == {e["id"] for e in events}  # one picture per event, named by its id
        for e in events:
            assert json.loads((folder / f"{e['id']}.json").read_text()) == e

        end = events[-1]  # its picture is the object's best sighting, not its last frame
        x1, y1, x2, y2 = (round(v) for v in end["box"])
        diff = difference(read(folder / f"{end['id']}.jpg"), clip_frame(end["best"]["seq"]))
        assert end["best"]["seq"] < FRAMES - 10 and diff[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10].mean() < 8
        crop = read(folder / f"{end['id']}-crop.jpg")
        assert abs(crop.shape[1] - 1.2 * (x2 - x1)) <= 3 and abs(crop.shape[0] - 1.2 * (y2 - y1)) <= 3
        found = model([crop])[0]
    finally:
        model.close()
    assert any(name in FACE_CLASSES for name in found.class_name), found
