"""Zones and lines in a frame's pixels: normalized coordinates scaled, everything clipped to the
frame (warned once per shape), rebuilt when the frame size changes. Point-in-zone is
supervision's `PolygonZone`; the side of a line follows supervision's `LineZone` arithmetic."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.config.zones import LineConfig, ZoneConfig, ZonesStageConfig

__all__ = ["FrameGeometry", "PixelLine", "PixelZone", "Shapes", "line_sides"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PixelZone:
    name: str
    config: ZoneConfig
    polygon: np.ndarray  # (N, 2) pixels
    zone: Any  # supervision.PolygonZone

    def contains(self, xyxy: np.ndarray) -> np.ndarray:
        import supervision as sv

        return np.asarray(self.zone.trigger(sv.Detections(xyxy=xyxy.astype(np.float64))), dtype=bool)


@dataclass(frozen=True)
class PixelLine:
    name: str
    config: LineConfig
    start: np.ndarray  # (2,) pixels
    end: np.ndarray


@dataclass(frozen=True)
class Shapes:
    """The zones and lines of one frame size, and the anchor to test."""

    zones: list[PixelZone]
    lines: list[PixelLine]
    anchor: Any  # supervision.Position

    def anchors(self, xyxy: np.ndarray) -> np.ndarray:
        import supervision as sv

        return np.asarray(sv.Detections(xyxy=xyxy.astype(np.float64)).get_anchors_coordinates(self.anchor), float)


class FrameGeometry:
    """The stage's zones and lines for a frame of a given size (cached per size)."""

    def __init__(self, config: ZonesStageConfig, source: str) -> None:
        self.config = config
        self.source = source
        self._cache: dict[tuple[int, int], Shapes] = {}
        self._warned: set[str] = set()

    def at(self, width: int, height: int) -> Shapes:
        shapes = self._cache.get((width, height))
        if shapes is None:
            shapes = self._cache[(width, height)] = self._build(width, height)
        return shapes

    def _build(self, width: int, height: int) -> Shapes:
        import supervision as sv

        zones = []
        for zone in self.config.zones:
            polygon = self._pixels(zone, zone.polygon, width, height)
            if _area(polygon) == 0:
                self._warn(zone.name, f"zone '{zone.name}' has no area inside the {width}x{height} frame; it never triggers")
                continue
            anchor = sv.Position[self.config.anchor.upper()]
            test = sv.PolygonZone(polygon.round().astype(np.int64), triggering_anchors=(anchor,))
            zones.append(PixelZone(zone.name, zone, polygon, test))
        lines = []
        for line in self.config.lines:
            start, end = self._pixels(line, [line.start, line.end], width, height)
            if np.array_equal(start, end):
                self._warn(line.name, f"line '{line.name}' has no length inside the {width}x{height} frame; it never triggers")
                continue
            lines.append(PixelLine(line.name, line, start, end))
        return Shapes(zones, lines, sv.Position[self.config.anchor.upper()])

    def _pixels(self, shape: ZoneConfig | LineConfig, points: Any, width: int, height: int) -> np.ndarray:
        xy = np.asarray(points, dtype=np.float64)
        if shape.normalized:
            return xy * (width, height)
        clipped = np.clip(xy, 0, (width, height))
        if not np.array_equal(clipped, xy):
            self._warn(shape.name, f"'{shape.name}' reaches outside the {width}x{height} frame; clipped to it")
        return clipped

    def _warn(self, name: str, message: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            log.warning("source '%s': %s", self.source, message)


def line_sides(line: PixelLine, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(in_limits, on_in_side) per anchor, as supervision's `LineZone` decides them: an anchor is
    in limits between the perpendiculars through the ends; it is on the `in` side when
    (end - start) x (anchor - start) < 0 (for a line drawn top to bottom: the right of the image)."""
    vector = line.end - line.start
    perpendicular = np.array([-vector[1], vector[0]]) / np.hypot(*vector)
    at_start = _cross(anchors, line.start, line.start + perpendicular) > 0
    at_end = _cross(anchors, line.end, line.end - perpendicular) > 0
    return at_start == at_end, _cross(anchors, line.start, line.end) < 0


def _cross(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    # supervision's cross_product, term for term, so the sides (and `in`) agree with LineZone's.
    diff = points - start
    vector = end - start
    return np.asarray(vector[0] * diff[:, 1] - vector[1] * diff[:, 0])


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)
