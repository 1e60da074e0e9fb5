"""A source's zones and lines (`InferenceResult.overlays`) drawn by the picture sinks under the
real YOLOv8n's boxes: on the annotator's canvas, in snapshots and in the annotated video, read
back with OpenCV and PyAV; the records beside them are unchanged."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import supervision as sv

from tests.integration.sinks.test_video_snapshot_sinks import astronaut, decode, faces, results, run_sink, segments  # noqa: F401
from vigil.engine import Detections
from vigil.result import Overlay
from vigil.sinks import AnnotatedVideoSink, SnapshotSink
from vigil.sinks._annotate import Annotator
from vigil.sinks.records import result_to_record

ZONE = Overlay("dock", "zone", ((420.0, 300.0), (620.0, 300.0), (620.0, 460.0), (420.0, 460.0)), "2 inside")
LINE = Overlay("door", "line", ((40.0, 250.0), (40.0, 470.0)), "in 3 out 1")
ZONE_BGR, LINE_BGR = (np.array(sv.ColorPalette.DEFAULT.by_idx(i).as_bgr()) for i in (0, 1))


def painted(image: np.ndarray, color: np.ndarray, ys: slice, xs: slice, tolerance: float = 0) -> float:
    """The share of pixels in the window that have `color` (within `tolerance`, for lossy codecs)."""
    window = image[ys, xs].astype(int)
    return float((np.abs(window - color).max(axis=2) <= tolerance).mean())


def test_a_zone_outline_and_a_line_are_drawn_with_their_names_and_counts_under_the_boxes(astronaut, faces):
    annotator = Annotator("test")
    gray = np.full((480, 640, 3), 90, np.uint8)
    scene = annotator.draw(gray, Detections.empty(), (ZONE, LINE))
    assert painted(scene, ZONE_BGR, slice(299, 302), slice(450, 600)) > 0.9  # the zone's top edge
    assert painted(scene, ZONE_BGR, slice(320, 360), slice(450, 600)) == 0  # its inside is not filled
    assert painted(scene, LINE_BGR, slice(270, 350), slice(39, 42)) > 0.9  # the line
    assert painted(scene, LINE_BGR, slice(246, 255), slice(36, 45)) > 0.9  # an end marked
    # The labels, white on the shape's colour at the zone's centre and the line's middle.
    assert painted(scene, ZONE_BGR, slice(370, 390), slice(475, 565)) > 0.6
    assert painted(scene, LINE_BGR, slice(350, 370), slice(10, 110)) > 0.6
    white = (scene == 255).all(axis=2)
    assert white[370:390, 475:565].sum() > 10 and white[350:370, 10:110].sum() > 10
    assert np.array_equal(scene[:200, 100:400], gray[:200, 100:400])  # nothing else touched
    # With detections, the boxes are drawn exactly as without overlays wherever no shape is.
    plain, drawn = annotator.draw(astronaut, faces), annotator.draw(astronaut, faces, (ZONE, LINE))
    assert np.array_equal(plain[:240], drawn[:240]) and not np.array_equal(plain, drawn)


async def test_snapshots_show_the_zones_and_lines_and_their_records_leave_them_out(tmp_path, astronaut, faces):
    published = [replace(r, overlays=(ZONE, LINE)) for r in results(astronaut, faces, [0.0])]
    sink = SnapshotSink(tmp_path, interval_s=1.0)
    await run_sink(sink, published)

    [jpeg], [sidecar] = sorted((tmp_path / "cam1").glob("*.jpg")), sorted((tmp_path / "cam1").glob("*.json"))
    image = cv2.imread(str(jpeg))
    assert painted(image, ZONE_BGR, slice(300, 301), slice(450, 600), tolerance=60) > 0.8
    assert painted(image, LINE_BGR, slice(270, 350), slice(39, 42), tolerance=60) > 0.8
    record = json.loads(sidecar.read_text())
    assert record == result_to_record(published[0]) and "overlays" not in json.dumps(record)


async def test_the_annotated_video_shows_the_zones_and_lines_on_every_frame(tmp_path, astronaut, faces):
    published = [replace(r, overlays=(ZONE, LINE)) for r in results(astronaut, faces, [0, 1 / 30, 2 / 30])]
    await run_sink(AnnotatedVideoSink(tmp_path), published)

    [path] = segments(tmp_path / "cam1")
    frames = [f.to_ndarray(format="bgr24") for f in decode(path)]
    assert len(frames) == 3
    for image in frames:
        assert painted(image, ZONE_BGR, slice(300, 301), slice(450, 600), tolerance=60) > 0.8
        assert painted(image, LINE_BGR, slice(270, 350), slice(39, 42), tolerance=60) > 0.8
