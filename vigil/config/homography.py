"""A plane-to-plane homography from four point pairs (the ground in the image -> the ground in
metres), as supervision's `ViewTransformer` makes with OpenCV's `getPerspectiveTransform`, here
with numpy alone: the 8x8 linear system of the direct linear transform, h33 fixed at 1.

    H = homography([[800, 410], [1125, 410], [1920, 850], [0, 850]], [[0, 0], [24, 0], [24, 249], [0, 249]])
    to_plane(H, np.array([[960.0, 600.0]]))  # metres

`problem(image, world)` says what is wrong with four pairs that make no usable mapping (three
points in a line, the two lists in different orders), or None."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["homography", "problem", "to_plane"]

_COLLINEAR = 1e-6  # a triangle of three of the points with less area than this share of the square of their extent


def homography(image: Sequence[Sequence[float]], world: Sequence[Sequence[float]]) -> np.ndarray:
    """The 3x3 matrix taking `image` points to `world` points (four of each, no three in a line)."""
    import numpy as np

    a, b = [], []
    for (x, y), (u, v) in zip(np.asarray(image, np.float64), np.asarray(world, np.float64)):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    h = np.linalg.solve(np.asarray(a), np.asarray(b))
    return np.append(h, 1.0).reshape(3, 3)


def to_plane(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`points` (N, 2) mapped by `matrix` (N, 2)."""
    import numpy as np

    ones = np.ones((len(points), 1))
    mapped = np.hstack([np.asarray(points, np.float64).reshape(-1, 2), ones]) @ matrix.T
    return np.asarray(mapped[:, :2] / mapped[:, 2:3])


def problem(image: Sequence[Sequence[float]], world: Sequence[Sequence[float]]) -> str | None:
    """Why four image points and their four world points make no usable mapping, or None."""
    import numpy as np

    for name, points in (("image", image), ("world", world)):
        if len(points) != 4:
            return f"speed.{name} needs exactly 4 points ([x, y] each), got {len(points)}"
        triple = _collinear(np.asarray(points, np.float64))
        if triple is not None:
            i, j, k = triple
            return (
                f"speed.{name}: points {i}, {j} and {k} lie on one line (or repeat a point); "
                "pick 4 points on the ground, no 3 of them in a line (the corners of a parking bay, a lane's marks)"
            )
    try:
        matrix = homography(image, world)
    except np.linalg.LinAlgError:
        return "speed: the image and world points make no mapping; pick 4 points on the ground, no 3 of them in a line"
    w = np.hstack([np.asarray(image, np.float64), np.ones((4, 1))]) @ matrix[2]
    if not (np.all(w > 0) or np.all(w < 0)):
        return (
            "speed: the image points and the world points are not in the same order (the mapping folds over); "
            "list both in the same order around the area"
        )
    return None


def _collinear(points: np.ndarray) -> tuple[int, int, int] | None:
    import numpy as np

    extent = float(np.ptp(points, axis=0).max()) if len(points) else 0.0
    for i, j, k in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
        (ax, ay), (bx, by), (cx, cy) = points[i], points[j], points[k]
        area = abs((bx - ax) * (cy - ay) - (by - ay) * (cx - ax)) / 2
        if area <= _COLLINEAR * extent * extent:
            return i, j, k
    return None
