import cv2
import numpy as np
import pytest

from tests import reference_ultralytics as ref
from vigil.engine.models.yolo import _ultralytics_ops as ops


@pytest.mark.parametrize(
    "hw, target, auto, expected_in, top, left",
    [
        ((400, 600), 640, True, (448, 640), 10, 0),  # README example: new 640x427, pad 10 top, 11 bottom
        ((400, 600), 640, False, (640, 640), 106, 0),
        ((480, 640), 640, True, (480, 640), 0, 0),
        ((512, 512), 320, True, (320, 320), 0, 0),
        ((720, 1280), 640, True, (384, 640), 12, 0),
        ((640, 360), 640, True, (640, 384), 0, 12),
        ((20, 30), 320, False, (320, 320), 53, 0),  # tiny image is scaled up
    ],
)
def test_plan_letterbox_matches_ultralytics_geometry(hw, target, auto, expected_in, top, left):
    box = ops.plan_letterbox(hw[0], hw[1], target, target, auto)
    assert (box.in_h, box.in_w) == expected_in
    assert (box.top, box.left) == (top, left)


@pytest.mark.parametrize("hw", [(400, 600), (333, 517), (1080, 1920), (77, 49), (480, 640)])
@pytest.mark.parametrize("auto", [True, False])
def test_letterbox_into_is_bit_identical_to_reference_tensor(hw, auto):
    rng = np.random.default_rng(hw[0])
    img = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    box = ops.plan_letterbox(hw[0], hw[1], 640, 640, auto)
    out = np.full((3, box.in_h, box.in_w), np.nan, np.float32)  # every pixel must be written
    ops.letterbox_into(img, box, out)
    expected = ref.to_tensor([ref.letterbox(img, (640, 640), auto)])[0]
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out, expected)  # bit-identical to Ultralytics' tensor


def test_nms_matches_pairwise_reference_on_random_boxes():
    rng = np.random.default_rng(1)
    for _ in range(20):
        xy = rng.uniform(0, 200, (60, 2)).astype(np.float32)
        boxes = np.hstack([xy, xy + rng.uniform(5, 80, (60, 2)).astype(np.float32)])
        scores = rng.uniform(0, 1, 60).astype(np.float32)
        assert ops.nms(boxes, scores, 0.5).tolist() == ref.nms_loop(boxes.tolist(), scores.tolist(), 0.5)


def test_nms_suppresses_only_strictly_above_threshold():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5]], np.float32)  # IoU exactly 0.5
    scores = np.array([0.9, 0.8], np.float32)
    assert ops.nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert ops.nms(boxes, scores, 0.49).tolist() == [0]


def test_select_detections_is_class_aware():
    # Two identical boxes of different classes both survive; a same-class duplicate does not.
    pred = np.zeros((4 + 2, 3), np.float32)
    pred[:4] = np.array([[50, 50, 50], [50, 50, 51], [20, 20, 20], [20, 20, 20]], np.float32)
    pred[4, 0], pred[5, 1], pred[4, 2] = 0.9, 0.8, 0.7
    xyxy, conf, cls, idx = ops.select_detections(pred, 2, 0.25, 0.7, 300)
    assert idx.tolist() == [0, 1]
    assert cls.tolist() == [0, 1]
    np.testing.assert_allclose(conf, [0.9, 0.8])
    np.testing.assert_allclose(xyxy[0], [40, 40, 60, 60])


def test_select_detections_keeps_scores_strictly_above_conf_and_caps_max_det():
    pred = np.zeros((5, 4), np.float32)
    pred[0] = [10, 100, 200, 300]
    pred[1] = 10
    pred[2:4] = 8
    pred[4] = [0.25, 0.26, 0.9, 0.5]
    _, conf, _, idx = ops.select_detections(pred, 1, 0.25, 0.7, 2)
    assert idx.tolist() == [2, 3]
    np.testing.assert_allclose(conf, [0.9, 0.5])


@pytest.mark.parametrize("hw, auto", [((400, 600), True), ((400, 600), False), ((720, 1280), True), ((333, 517), False)])
def test_scale_boxes_inverts_the_letterbox(hw, auto):
    box = ops.plan_letterbox(hw[0], hw[1], 640, 640, auto)
    orig = np.array([[10, 20, 110, 220], [0, 0, hw[1], hw[0]]], np.float32)
    gx, gy = box.new_w / hw[1], box.new_h / hw[0]
    in_input = orig * np.array([gx, gy, gx, gy], np.float32) + np.array([box.left, box.top] * 2, np.float32)
    np.testing.assert_allclose(ops.scale_boxes(in_input, box), orig, atol=1e-3)


def test_scale_boxes_clips_to_the_image():
    box = ops.plan_letterbox(100, 200, 320, 320, False)
    out = ops.scale_boxes(np.array([[-50, -50, 400, 400]], np.float32), box)
    np.testing.assert_allclose(out, [[0, 0, 200, 100]])


def test_bilinear_region_equals_the_same_window_of_a_full_resize():
    rng = np.random.default_rng(3)
    plane = rng.normal(size=(40, 30)).astype(np.float32)
    full = ops.bilinear_region(plane, 170, 130, (0, 170), (0, 130))
    window = ops.bilinear_region(plane, 170, 130, (33, 97), (5, 61))
    np.testing.assert_array_equal(window, full[33:97, 5:61])
    # and the full output agrees with OpenCV's bilinear resize up to float rounding
    np.testing.assert_allclose(full, cv2.resize(plane, (130, 170), interpolation=cv2.INTER_LINEAR), atol=1e-4)
