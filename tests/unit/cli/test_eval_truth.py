"""vigil eval's ground truth: a MOTChallenge gt.txt read (and refused with its line), the true
crossings and speeds derived from its tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.cli.eval_truth import TruthError, read_truth, side, true_crossings, true_speeds


def gt(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gt.txt"
    path.write_text(text)
    return path


def test_rows_become_boxes_by_frame_and_conf_zero_rows_are_left_out(tmp_path):
    truth = read_truth(
        gt(tmp_path, "# comment\n1,1,10,20,30,40,1,1,1.0\n\n1,2,0,0,5,5,0,1,1\n2,1,12,20,30,40,-1,1,0.5\n3,7,1,1,2,2\n")
    )
    assert truth.frames == {1: [(1, (10, 20, 40, 60))], 2: [(1, (12, 20, 42, 60))], 3: [(7, (1, 1, 3, 3))]}
    assert (truth.ids, truth.boxes) == (2, 3)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2,1,10,20,30", "line 2: 5 fields, expected at least 6"),
        ("2,1,10,x,30,40", "line 2: not a number in '2,1,10,x,30,40'"),
        ("0,1,10,20,30,40", "line 2: frame 0 and id 1 must be whole, frames counted from 1"),
        ("2.5,1,10,20,30,40", "line 2: frame 2.5 and id 1 must be whole"),
        ("2,1,10,20,0,40", "line 2: the box's width and height must be positive numbers (got 0 x 40)"),
        ("1,1,10,20,30,40", "line 2: id 1 appears twice in frame 1"),
    ],
)
def test_a_bad_row_is_refused_with_its_file_and_line(tmp_path, row, message):
    path = gt(tmp_path, f"1,1,10,20,30,40,1,1,1\n{row}\n")
    with pytest.raises(TruthError) as caught:
        read_truth(path)
    assert f"{path} {message}" in str(caught.value)


def test_a_missing_or_empty_file_is_refused(tmp_path):
    with pytest.raises(TruthError, match="cannot read the ground truth .*nope.txt"):
        read_truth(tmp_path / "nope.txt")
    with pytest.raises(TruthError, match="no box to evaluate"):
        read_truth(gt(tmp_path, "1,1,0,0,5,5,0,1,1\n"))


def test_side_follows_supervision_and_is_none_beyond_the_ends():
    door = ((100.0, 0.0), (100.0, 200.0))  # downwards: `in` is to the right of it in the picture, as LineZone says
    assert side(door, (150, 100)) is True and side(door, (50, 100)) is False
    assert side(door, (50, 250)) is None and side(door, (150, -1)) is None


def boxes_along(xs: list[float], y: float = 100) -> list[tuple[float, float, float, float]]:
    return [(x - 10, y - 40, x + 10, y) for x in xs]  # anchor (bottom centre) at (x, y)


def test_crossings_are_changes_of_side_of_each_tracks_anchor():
    walk = boxes_along([80, 90, 110, 120, 95, 85, 70])  # over, back
    frames = {f: [(1, box)] for f, box in enumerate(walk, 1)}
    frames[1].append((2, boxes_along([300])[0]))  # far right: never crosses
    frames[2].append((3, boxes_along([150], y=400)[0]))  # beyond the line's end
    frames[3].append((3, boxes_along([50], y=400)[0]))
    door = ((100.0, 0.0), (100.0, 200.0))
    assert true_crossings(frames, {"door": door}) == {"door": {"in": 1, "out": 1}}
    reverse = ((100.0, 200.0), (100.0, 0.0))
    assert true_crossings(frames, {"back": reverse}) == {"back": {"in": 1, "out": 1}}


def test_speeds_through_a_perspective_are_exact_for_constant_motion():
    # a ground plane seen in perspective: world (X, Y) metres -> image by a homography, walked at 2 m/s
    image = [[200, 100], [440, 100], [600, 400], [40, 400]]
    world = [[0, 0], [10, 0], [10, 20], [0, 20]]
    from vigil.config.homography import homography, to_plane

    to_image = homography(world, image)
    fps, window = 10.0, 1.0
    ground = np.array([[5.0, 2.0 + 2.0 * k / fps] for k in range(40)])
    anchors = to_plane(to_image, ground)
    frames = {k + 1: [(1, (x - 5, y - 20, x + 5, y))] for k, (x, y) in enumerate(anchors)}
    speeds = true_speeds(frames, image, world, window, fps)
    assert min(f for f, _ in speeds) == 9  # positions over 3/4 of the window first
    assert len(speeds) == 32 and all(abs(kmh - 7.2) < 1e-6 for kmh in speeds.values())
