"""A source's zones and lines drawn on a frame (`InferenceResult.overlays`), the way supervision's
`PolygonZoneAnnotator` and `LineZoneAnnotator` draw theirs: a zone's outline with its name and
count at its centre, a line with its ends marked and its name and in/out counts at its middle.

supervision is imported when the painter is made (by `Annotator`, on the sink's thread), never
when vigil is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vigil.result import Overlay

__all__ = ["OverlayPainter"]

THICKNESS = 2
TEXT_SCALE = 0.5


class OverlayPainter:
    """Draws overlays in place on a BGR image; each shape keeps its colour (supervision's default
    palette, by position) from frame to frame, since a stage lists its shapes in a fixed order."""

    def __init__(self) -> None:
        import supervision as sv

        self._sv: Any = sv
        self._palette = sv.ColorPalette.DEFAULT

    def draw(self, scene: np.ndarray, overlays: Sequence[Overlay]) -> np.ndarray:
        for index, overlay in enumerate(overlays):
            color = self._palette.by_idx(index)
            label = overlay.name if overlay.text is None else f"{overlay.name}: {overlay.text}"
            points = np.round(np.asarray(overlay.points, dtype=np.float64)).astype(np.int64)
            if overlay.kind == "zone":
                scene = self._sv.draw_polygon(scene, points, color, THICKNESS)
            else:
                scene = self._line(scene, points, color)
            scene = self._label(scene, label, points.mean(axis=0), color)  # a zone's centre, a line's middle
        return scene

    def _line(self, scene: np.ndarray, points: np.ndarray, color: Any) -> np.ndarray:
        sv = self._sv
        start, end = (sv.Point(int(x), int(y)) for x, y in points[:2])
        scene = sv.draw_line(scene, start, end, color, THICKNESS)
        for x, y in points[:2]:  # the ends marked, as LineZoneAnnotator does
            scene = sv.draw_filled_rectangle(scene, sv.Rect(int(x) - 4, int(y) - 4, 8, 8), color)
        return scene

    def _label(self, scene: np.ndarray, text: str, at: np.ndarray, color: Any) -> np.ndarray:
        # The anchor is the text's centre: kept far enough inside the frame that it stays readable.
        height, width = scene.shape[:2]
        x = int(np.clip(at[0], 60, max(width - 60, 60)))
        y = int(np.clip(at[1], 16, max(height - 16, 16)))
        return self._sv.draw_text(
            scene,
            text,
            self._sv.Point(x, y),
            text_color=self._sv.Color.WHITE,
            text_scale=TEXT_SCALE,
            text_thickness=1,
            text_padding=5,
            background_color=color,
        )
