"""Heatmaps (`heatmap:` in the YAML; `GET /api/v1/streams/{name}/heatmap.png[?class=person]`): where
each camera's objects were, per class, with older sightings fading.

`HeatmapView` is a `PipelineObserver`: it hears every published result (after the camera's stages)
and adds each object's anchor (its box's bottom centre, where zones and lines test it too) to a
coarse grid of its camera (`grid` cells across the longer side), one grid per class (the first
`max_classes` classes seen; every object also counts in the total). It hooks in beside the
metrics and the live view rather than as a stage: it needs no tracker, changes no result, and
works for every camera whatever its chain, with no catalog entry and nothing to configure per camera.

A sighting's weight halves every `decay_s` seconds. Rather than scale every cell at every frame,
a sighting at time t adds 2^((t - t0) / decay_s) and a reading multiplies by 2^(-(now - t0) / decay_s)
(t0 moves forward, and the grids with it, before the numbers grow large): a result costs one
`np.add.at` on a few cells, on the event loop. The picture is drawn on a thread: the hottest
cell in full colour over the camera's latest frame (at most 1280 pixels wide).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from vigil.engine import Detections
from vigil.pipeline.observer import PipelineObserver
from vigil.result import InferenceResult

__all__ = ["ALL_CLASSES", "MAX_CAMERAS", "HeatmapView", "render_png"]

ALL_CLASSES = ""  # the total of every class
MAX_CAMERAS = 1024  # cameras kept (a removed camera's map stays until this many others have come)
_MAX_WIDTH = 1280
_REBASE = 40.0  # half-lives after t0 at which the grids are rescaled (2^40: far from float32's limits)


@dataclass(slots=True)
class _Camera:
    size: tuple[int, int]  # the frames' (width, height)
    cells: tuple[int, int]  # the grid's (columns, rows)
    t0: float
    grids: dict[str, np.ndarray] = field(default_factory=dict)  # class -> rows x columns, in units of 2^(t - t0)
    image: np.ndarray | None = None  # the latest frame (a reference: frames are never changed)
    seen: float = 0.0  # when its latest frame came


class HeatmapView(PipelineObserver):
    """Every camera's heatmaps (see the module's docstring); `clock` gives epoch seconds."""

    def __init__(
        self, decay_s: float = 3600.0, grid: int = 64, max_classes: int = 32, clock: Callable[[], float] = time.time
    ) -> None:
        self.decay_s, self.grid, self.max_classes, self.clock = decay_s, grid, max_classes, clock
        self._cameras: dict[str, _Camera] = {}

    def published(self, result: InferenceResult) -> None:
        frame = result.frame
        h, w = frame.image.shape[:2]
        camera = self._cameras.get(frame.source_id)
        now = self.clock()
        if camera is None or camera.size != (w, h):  # a new camera, or its picture changed size: start afresh
            if camera is None and len(self._cameras) >= MAX_CAMERAS:  # cameras removed long ago go first
                self._cameras.pop(min(self._cameras, key=lambda name: self._cameras[name].seen))
            camera = self._cameras[frame.source_id] = _Camera((w, h), _cells(w, h, self.grid), now)
        camera.seen = now
        camera.image = frame.image
        dets = result.detections
        if not isinstance(dets, Detections) or not len(dets):
            return
        if (now - camera.t0) / self.decay_s > _REBASE:
            self._rebase(camera, now)
        weight = 2.0 ** ((now - camera.t0) / self.decay_s)
        cols, rows = camera.cells
        x = np.clip(((dets.xyxy[:, 0] + dets.xyxy[:, 2]) / 2 * cols / w).astype(np.int64), 0, cols - 1)
        y = np.clip((dets.xyxy[:, 3] * rows / h).astype(np.int64), 0, rows - 1)
        names = dets.class_name
        keys = names if names is not None else dets.class_id
        self._add(camera, ALL_CLASSES, y, x, weight)
        for key in np.unique(keys):
            name = str(key)
            if name in camera.grids or len(camera.grids) <= self.max_classes:  # the total is one of the grids
                picked = keys == key
                self._add(camera, name, y[picked], x[picked], weight)

    @staticmethod
    def _add(camera: _Camera, name: str, y: np.ndarray, x: np.ndarray, weight: float) -> None:
        grid = camera.grids.get(name)
        if grid is None:
            grid = camera.grids[name] = np.zeros(camera.cells[::-1], np.float64)
        np.add.at(grid, (y, x), weight)

    def _rebase(self, camera: _Camera, now: float) -> None:
        factor = 2.0 ** (-(now - camera.t0) / self.decay_s)
        for grid in camera.grids.values():
            grid *= factor
        camera.t0 = now

    def forget(self, source_id: str) -> None:
        self._cameras.pop(source_id, None)

    def heat(self, source_id: str, class_name: str | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """(the latest frame, the heat grid of `class_name` or of every class, decayed to now);
        None before the camera's first frame. An unseen class is a cold grid."""
        camera = self._cameras.get(source_id)
        if camera is None or camera.image is None:
            return None
        grid = camera.grids.get(class_name or ALL_CLASSES)
        if grid is None:
            return camera.image, np.zeros(camera.cells[::-1], np.float32)
        scale = 2.0 ** (-(self.clock() - camera.t0) / self.decay_s)
        return camera.image, (grid * scale).astype(np.float32)

    def classes(self, source_id: str) -> list[str]:
        camera = self._cameras.get(source_id)
        return sorted(name for name in camera.grids if name != ALL_CLASSES) if camera is not None else []


def render_png(image: np.ndarray, heat: np.ndarray) -> bytes:
    """The heat grid in colour over `image` (BGR), the hottest cell full red, cold cells clear; a PNG. CPU: a thread."""
    h, w = image.shape[:2]
    if w > _MAX_WIDTH:
        h, w = max(1, round(h * _MAX_WIDTH / w)), _MAX_WIDTH
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    heat = cv2.GaussianBlur(heat.astype(np.float32), (0, 0), 0.8)  # a sighting is a blob over its cell's neighbours
    peak = float(heat.max()) if heat.size else 0.0
    level = np.asarray(heat / peak if peak > 0 and math.isfinite(peak) else np.zeros_like(heat), np.float32)
    spread = np.clip(cv2.resize(level, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    colour = cv2.applyColorMap((spread * 255).astype(np.uint8), cv2.COLORMAP_JET)
    alpha = (0.65 * np.sqrt(spread))[..., None]  # faint places still show
    out = (image.astype(np.float32) * (1 - alpha) + colour.astype(np.float32) * alpha).astype(np.uint8)
    ok, png = cv2.imencode(".png", out)
    if not ok:
        raise RuntimeError("OpenCV could not encode the heatmap as PNG")
    return png.tobytes()


def _cells(w: int, h: int, grid: int) -> tuple[int, int]:
    if w >= h:
        return grid, max(1, round(grid * h / w))
    return max(1, round(grid * w / h)), grid
