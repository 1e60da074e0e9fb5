import numpy as np
import pytest

from vigil.engine import Detections


def make(n: int = 3) -> Detections:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (n, 2))
    return Detections(
        xyxy=np.hstack([xy, xy + 10]),
        confidence=np.linspace(0.9, 0.3, n),
        class_id=np.arange(n) % 2,
        data={"class_name": np.array(["a", "b", "c", "d"][:n])},
    )


def test_arrays_are_coerced_to_documented_dtypes():
    d = make()
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (3, 4)
    assert d.confidence.dtype == np.float32
    assert d.class_id.dtype == np.int64
    assert len(d) == 3


def test_boolean_mask_selects_parallel_rows():
    d = make()
    sub = d[d.class_id == 0]
    assert len(sub) == 2
    np.testing.assert_array_equal(sub.class_name, ["a", "c"])
    np.testing.assert_array_equal(sub.xyxy, d.xyxy[[0, 2]])


def test_integer_index_keeps_a_one_row_detections():
    d = make()
    one = d[1]
    assert isinstance(one, Detections) and len(one) == 1
    assert one.class_name[0] == "b"
    assert [len(x) for x in d] == [1, 1, 1]


def test_empty_has_zero_rows_and_right_shapes():
    e = Detections.empty()
    assert len(e) == 0 and e.xyxy.shape == (0, 4)
    assert len(e[e.confidence > 0.5]) == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"xyxy": np.zeros((2, 3)), "confidence": [1, 1], "class_id": [0, 0]}, "shape"),
        ({"xyxy": np.zeros((2, 4)), "confidence": [1], "class_id": [0, 0]}, "confidence"),
        ({"xyxy": np.zeros((2, 4)), "confidence": [1, 1], "class_id": [0]}, "class_id"),
        ({"xyxy": np.zeros((2, 4)), "confidence": [1, 1], "class_id": [0, 0], "data": {"x": [1]}}, "data"),
    ],
)
def test_mismatched_arrays_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Detections(**kwargs)


def test_supervision_round_trip_is_lossless():
    d = make()
    sv_dets = d.to_supervision()
    assert type(sv_dets).__module__.startswith("supervision")
    np.testing.assert_array_equal(sv_dets.xyxy, d.xyxy)
    back = Detections.from_supervision(sv_dets)
    np.testing.assert_array_equal(back.xyxy, d.xyxy)
    np.testing.assert_array_equal(back.confidence, d.confidence)
    np.testing.assert_array_equal(back.class_id, d.class_id)
    np.testing.assert_array_equal(back.class_name, d.class_name)


def test_masks_and_keypoints_follow_indexing_and_round_trip_through_supervision():
    d = make()
    rng = np.random.default_rng(1)
    d = Detections(
        d.xyxy,
        d.confidence,
        d.class_id,
        d.data,
        mask=rng.random((3, 6, 8)) > 0.5,
        keypoints=rng.uniform(0, 8, (3, 17, 2)),
        keypoint_confidence=rng.random((3, 17)),
    )
    sub = d[d.class_id == 0]
    np.testing.assert_array_equal(sub.mask, d.mask[[0, 2]])
    np.testing.assert_array_equal(sub.keypoints, d.keypoints[[0, 2]])
    sv_dets = d.to_supervision()
    np.testing.assert_array_equal(sv_dets.mask, d.mask)
    back = Detections.from_supervision(sv_dets)
    np.testing.assert_array_equal(back.mask, d.mask)
    np.testing.assert_array_equal(back.keypoints, d.keypoints)
    np.testing.assert_array_equal(back.keypoint_confidence, d.keypoint_confidence)
    assert "keypoints" not in back.data
    kp = d.to_supervision_keypoints()
    np.testing.assert_array_equal(kp.xy, d.keypoints)


def test_mask_of_wrong_length_is_rejected():
    d = make()
    with pytest.raises(ValueError, match="mask must have shape"):
        Detections(d.xyxy, d.confidence, d.class_id, mask=np.zeros((2, 4, 4), bool))


def test_classification_prediction_top_k_and_supervision_round_trip():
    from vigil.engine import ClassificationPrediction

    probs = np.array([0.1, 0.5, 0.05, 0.3, 0.05], np.float32)
    pred = ClassificationPrediction.from_probs(probs, 3, ("a", "b", "c", "d", "e"))
    assert pred.top_k.tolist() == [1, 3, 0] and pred.class_name == "b" and pred.confidence == pytest.approx(0.5)
    back = ClassificationPrediction.from_supervision(pred.to_supervision(), 3)
    np.testing.assert_allclose(back.probs, probs)
    assert back.top_k.tolist() == [1, 3, 0]


def test_tracker_id_is_int64_checked_and_follows_indexing():
    d = Detections(make().xyxy, make().confidence, make().class_id, tracker_id=[7, -1, 3])
    assert d.tracker_id.dtype == np.int64
    assert d[d.class_id == 0].tracker_id.tolist() == [7, 3] and d[1].tracker_id.tolist() == [-1]
    assert make().tracker_id is None and make()[0:2].tracker_id is None
    with pytest.raises(ValueError, match=r"tracker_id must have shape \(3,\)"):
        Detections(make().xyxy, make().confidence, make().class_id, tracker_id=[1, 2])


@pytest.mark.parametrize("tracker_id", [None, [0, -1, 12]])
def test_tracker_id_round_trips_through_supervision(tracker_id):
    d = make()
    d.tracker_id = None if tracker_id is None else np.array(tracker_id, np.int64)
    s = d.to_supervision()
    assert (s.tracker_id is None) if tracker_id is None else s.tracker_id.tolist() == tracker_id
    back = Detections.from_supervision(s)
    assert (
        (back.tracker_id is None)
        if tracker_id is None
        else (back.tracker_id.tolist() == tracker_id and back.tracker_id.dtype == np.int64)
    )
