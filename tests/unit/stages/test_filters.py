"""Per-sink result filters on real Frames and Detections."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.support.results import make_result
from vigil.sinks import ResultFilter


@pytest.mark.parametrize(
    ("classes", "kept"),
    [
        ({"FACE_FEMALE"}, [0]),
        ({2}, [2]),
        ({"FACE_MALE", 2}, [1, 2]),
        ({"CAR"}, []),
    ],
)
def test_classes_keep_detections_by_name_or_id(classes, kept):
    result = make_result("cam", 0, class_ids=[0, 1, 2], confidences=[0.9, 0.8, 0.7])
    filtered = ResultFilter(classes=classes).apply(result)
    assert filtered is not None
    assert filtered.detections.class_id.tolist() == kept
    assert filtered.frame is result.frame
    assert len(result.detections) == 3  # the original is untouched


def test_min_confidence_drops_weaker_detections():
    result = make_result("cam", 0, class_ids=[0, 1, 2], confidences=[0.9, 0.5, 0.49])
    filtered = ResultFilter(min_confidence=0.5).apply(result)
    assert filtered is not None and filtered.detections.confidence.tolist() == pytest.approx([0.9, 0.5])


def test_a_filter_that_keeps_everything_returns_the_same_result():
    result = make_result("cam", 0)
    assert ResultFilter().apply(result) is result


def test_only_with_detections_drops_frames_left_empty():
    only = ResultFilter(only_with_detections=True, classes={"FACE_MALE"})
    assert only.apply(make_result("cam", 0, class_ids=[0, 2], confidences=[0.9, 0.9])) is None
    assert only.apply(make_result("cam", 1, class_ids=[], confidences=[])) is None
    kept = only.apply(make_result("cam", 2, class_ids=[1], confidences=[0.9]))
    assert kept is not None and len(kept.detections) == 1
    # Without the flag an emptied frame is still published, with no detections.
    emptied = ResultFilter(classes={"FACE_MALE"}).apply(make_result("cam", 3, class_ids=[0], confidences=[0.9]))
    assert emptied is not None and len(emptied.detections) == 0


def test_cooldown_is_per_source_on_capture_time():
    cooldown = ResultFilter(cooldown_s=1.0)
    published = [
        (source, seq)
        for seq in range(0, 75, 5)  # 0 .. 2.33 s at 30 fps
        for source in ("a", "b")
        if cooldown.apply(make_result(source, seq)) is not None
    ]
    assert published == [("a", 0), ("b", 0), ("a", 30), ("b", 30), ("a", 60), ("b", 60)]


def test_cooldown_starts_only_with_a_published_result():
    cooldown = ResultFilter(cooldown_s=1.0, only_with_detections=True)
    assert cooldown.apply(make_result("a", 0, class_ids=[], confidences=[])) is None
    assert cooldown.apply(make_result("a", 1)) is not None  # the empty frame did not start it
    assert cooldown.apply(make_result("a", 2)) is None


def test_a_clock_that_jumps_back_ends_the_cooldown():
    cooldown = ResultFilter(cooldown_s=10.0)
    assert cooldown.apply(make_result("a", 300)) is not None
    assert cooldown.apply(make_result("a", 0)) is not None  # a camera reconnected with an older clock


@pytest.mark.parametrize("bad", [{"min_confidence": 1.5}, {"cooldown_s": -1}, {"clases": {"a"}}])
def test_bad_filter_settings_are_refused(bad):
    with pytest.raises(ValidationError):
        ResultFilter(**bad)
