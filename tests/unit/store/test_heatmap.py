"""Heatmaps (`vigil.store.heatmap`): objects' anchors (their boxes' bottom centres) summed per
camera and class in a bounded grid, hotter where the scripted objects were, older sightings
fading with the half-life `decay_s`, drawn as a PNG over the camera's latest frame."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import cv2
import numpy as np

from vigil import Frame
from vigil.engine import Detections
from vigil.result import InferenceResult, Timings
from vigil.store.heatmap import HeatmapView, render_png

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=timezone.utc)
W, H = 640, 320


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp()

    def __call__(self) -> float:
        return self.now


def result(
    boxes: list[tuple[float, float, float, float]], names: list[str], source: str = "gate", seq: int = 0
) -> InferenceResult:
    n = len(boxes)
    dets = Detections(
        xyxy=np.array(boxes, np.float32).reshape(n, 4),
        confidence=np.full(n, 0.9, np.float32),
        class_id=np.array([0 if name == "person" else 2 for name in names], np.int64),
        data={"class_name": np.array(names, dtype=str)},
    )
    frame = Frame(source, seq, seq / 10, T0 + timedelta(seconds=seq / 10), np.full((H, W, 3), 40, np.uint8))
    return InferenceResult(frame, "m", dets, Timings(queue=0.0, pre_process=0.0, infer=0.0, post_process=0.0, total=0.0))


PERSON_LEFT = (40.0, 100.0, 120.0, 300.0)  # bottom centre (80, 300)
CAR_RIGHT = (480.0, 100.0, 600.0, 250.0)  # bottom centre (540, 250)


def cell(grid: np.ndarray, x: float, y: float) -> float:
    rows, cols = grid.shape
    return float(grid[min(rows - 1, int(y * rows / H)), min(cols - 1, int(x * cols / W))])


def test_the_grid_is_hot_at_the_objects_anchors_per_class_and_bounded():
    view = HeatmapView(decay_s=3600, grid=32, clock=Clock())
    for seq in range(5):
        view.published(result([PERSON_LEFT, CAR_RIGHT], ["person", "car"], seq=seq))
    view.published(result([PERSON_LEFT], ["person"], seq=5))
    found = view.heat("gate")
    assert found is not None
    image, every = found
    assert image.shape == (H, W, 3) and every.shape == (16, 32)  # 32 across the longer side, in proportion
    assert cell(every, 80, 300) == 6 and cell(every, 540, 250) == 5 and every.sum() == 11
    person = view.heat("gate", "person")[1]  # type: ignore[index]
    assert cell(person, 80, 300) == 6 and cell(person, 540, 250) == 0
    assert view.heat("gate", "bicycle")[1].sum() == 0  # type: ignore[index]  # a class not seen: cold
    assert view.classes("gate") == ["car", "person"] and view.heat("yard") is None


def test_older_sightings_fade_with_the_half_life():
    clock = Clock()
    view = HeatmapView(decay_s=60, grid=32, clock=clock)
    view.published(result([PERSON_LEFT], ["person"]))
    clock.now += 120  # two half-lives
    view.published(result([CAR_RIGHT], ["car"]))
    every = view.heat("gate")[1]  # type: ignore[index]
    assert np.isclose(cell(every, 80, 300), 0.25) and np.isclose(cell(every, 540, 250), 1.0)
    clock.now += 60 * 50  # far past the rescaling point: still finite, still halving
    view.published(result([CAR_RIGHT], ["car"]))
    every = view.heat("gate")[1]  # type: ignore[index]
    assert np.isfinite(every).all() and np.isclose(cell(every, 540, 250), 1.0, atol=1e-6)


def test_a_camera_whose_picture_changes_size_starts_afresh_and_forget_drops_it():
    view = HeatmapView(grid=16, clock=Clock())
    view.published(result([PERSON_LEFT], ["person"]))
    small = result([], [])
    small = InferenceResult(Frame("gate", 1, 0.1, T0, np.zeros((100, 100, 3), np.uint8)), "m", small.detections, small.timings)
    view.published(small)
    assert view.heat("gate")[1].shape == (16, 16) and view.heat("gate")[1].sum() == 0  # type: ignore[index]
    view.forget("gate")
    assert view.heat("gate") is None


def test_the_png_decodes_at_the_frames_size_and_is_hotter_where_the_objects_were():
    view = HeatmapView(grid=32, clock=Clock())
    for seq in range(10):
        view.published(result([PERSON_LEFT], ["person"], seq=seq))
    png = render_png(*view.heat("gate"))  # type: ignore[misc]
    picture = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape == (H, W, 3)
    hot = picture[295:320, 75:105].astype(np.int32)  # around the anchor (80, 300), in its cell (80..100, 300..320)
    cold = picture[50:70, 500:520].astype(np.int32)
    assert (cold == 40).all(), "no heat: the frame shows as it is"
    assert np.abs(hot - 40).sum(axis=2).mean() > 60  # coloured, far from the frame's grey


def test_a_wide_frame_is_drawn_at_most_1280_pixels_wide():
    png = render_png(np.zeros((100, 4000, 3), np.uint8), np.zeros((2, 64), np.float32))
    picture = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (32, 1280, 3)
