"""PP-OCR on ONNX against rapidocr-onnxruntime 1.4.4: its golden results in shared/golden, and
the installed rapidocr run live on images rendered here."""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from vigil.engine import AutoModel
from vigil.engine._private.importers import import_rapidocr
from vigil.engine.base import TextRecognitionModel
from vigil.engine.text import TextDetections

SCORE_TOL = 1e-3
CORNER_TOL_PX = 2.0


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = Path(str(importlib.resources.files("rapidocr_onnxruntime")))
    return import_rapidocr(source, tmp_path_factory.mktemp("ppocr"), tmp_path_factory.mktemp("ppocr-scratch"))


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Any:
    loaded = AutoModel.from_pretrained(model_dir)
    yield loaded
    loaded.close()


@pytest.fixture(scope="module")
def rapidocr() -> Any:
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def assert_same_reading(ours: TextDetections, lines: list[tuple[Any, str, float]], label: str) -> None:
    """`lines`: rapidocr's (box, text, score) in its order."""
    assert list(ours.text) == [text for _, text, _ in lines], f"{label}: text"
    for i, (box, text, score) in enumerate(lines):
        assert abs(float(ours.confidence[i]) - score) <= SCORE_TOL, f"{label}: score of {text!r}"
        corner_diff = np.abs(ours.quads[i] - np.asarray(box, np.float32)).max()
        assert corner_diff <= CORNER_TOL_PX, f"{label}: corners of {text!r} differ by {corner_diff} px"


# -- golden parity ---------------------------------------------------------------------------


@pytest.mark.golden
def test_matches_rapidocr_golden_results(golden_dir: Path, model: Any) -> None:
    folder = golden_dir / "ocr"
    gold = json.loads((folder / "rapidocr_results.json").read_text())
    assert len(gold["images"]) >= 6
    for name, entry in gold["images"].items():
        # rapidocr read the PNG path with PIL as RGB and converted it to BGR.
        image = cv2.cvtColor(np.asarray(Image.open(folder / name).convert("RGB")), cv2.COLOR_RGB2BGR)
        assert list(image.shape) == entry["shape"]
        (ours,) = model(image)
        lines = [(line["box"], line["text"], line["score"]) for line in entry["rapidocr"]]
        assert lines, f"{name}: golden entry has no text"
        assert_same_reading(ours, lines, name)


# -- live parity on images rendered here -----------------------------------------------------


def _render(size_wh: tuple[int, int], lines: list[str], font_size: int, origin: tuple[int, int]) -> np.ndarray:
    """Black text in Pillow's bundled font on white, one line every 1.6 font sizes; BGR."""
    canvas = Image.new("RGB", size_wh, (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(font_size)
    for i, line in enumerate(lines):
        draw.text((origin[0], origin[1] + int(i * font_size * 1.6)), line, fill=(0, 0, 0), font=font)
    return cv2.cvtColor(np.asarray(canvas), cv2.COLOR_RGB2BGR)


def _plate() -> np.ndarray:
    image = np.full((240, 640, 3), 90, np.uint8)
    cv2.rectangle(image, (60, 60), (580, 180), (255, 255, 255), -1)
    cv2.putText(image, "TN 09 CX 7781", (80, 145), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (0, 0, 0), 5, cv2.LINE_AA)
    return image


def _three_lines() -> np.ndarray:
    return _render((560, 300), ["PARKING LEVEL 3", "EXIT 24 HOURS", "ZONE B-17"], 40, (30, 30))


def _rotated() -> np.ndarray:
    image = _render((640, 240), ["GATE 7 OPEN"], 56, (90, 80))
    turn = cv2.getRotationMatrix2D((320, 120), -8, 1.0)
    return cv2.warpAffine(image, turn, (640, 240), borderValue=(255, 255, 255))


def _upside_down() -> np.ndarray:
    return cv2.rotate(_render((600, 160), ["DELIVERY 1200"], 60, (40, 40)), cv2.ROTATE_180)


def _vertical() -> np.ndarray:
    # Tall crops are turned 90 degrees before the classifier.
    return cv2.rotate(_render((640, 140), ["NORTH TOWER"], 60, (40, 30)), cv2.ROTATE_90_CLOCKWISE)


def _small_text_full_hd() -> np.ndarray:
    image = np.full((1080, 1920, 3), (40, 60, 50), np.uint8)
    image[700:760, 1300:1700] = 235
    cv2.putText(image, "CAM 04 2024-06-01", (1310, 740), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2, cv2.LINE_AA)
    return image


def _above_max_side() -> np.ndarray:
    # Longer than rapidocr's max_side_len (2000): shrunk before detection, boxes scaled back.
    return _render((3200, 2400), ["WAREHOUSE 12"], 180, (400, 900))


def _tiny() -> np.ndarray:
    # Below min_side_len (30) and min_height: grown, then padded with black bands.
    return _render((90, 24), ["AB12"], 16, (4, 3))


def _wide_strip() -> np.ndarray:
    # Wider than 8:1: padded with black bands above and below.
    return _render((900, 48), ["SPEED LIMIT 60 NEXT EXIT 3 KM"], 30, (10, 8))


def _grayscale() -> np.ndarray:
    return cv2.cvtColor(_render((420, 120), ["GRAY 42"], 50, (30, 30)), cv2.COLOR_BGR2GRAY)


# name -> (image maker, a string rapidocr reads from it, so the case cannot pass on empty results)
RENDERED: dict[str, tuple[Callable[[], np.ndarray], str]] = {
    "plate": (_plate, "TN 09 CX 7781"),
    "three_lines": (_three_lines, "ZONEB-17"),
    "rotated": (_rotated, "GATE 7 OPEN"),
    "upside_down": (_upside_down, "DELIVERY 1200"),
    "vertical": (_vertical, "NORTH"),
    "small_text_full_hd": (_small_text_full_hd, "CAM 04 2024-06-01"),
    "above_max_side": (_above_max_side, "WAREHOUSE 12"),
    "tiny": (_tiny, "AB"),
    "wide_strip": (_wide_strip, "SPEEDLIMIT60NEXTEXIT3KM"),
    "grayscale": (_grayscale, "GRAY 42"),
}


@pytest.mark.parametrize("name", list(RENDERED))
def test_matches_live_rapidocr_on_rendered_images(name: str, model: Any, rapidocr: Any) -> None:
    make, expected = RENDERED[name]
    image = make()
    result, _ = rapidocr(image)
    lines = [(box, text, score) for box, text, score in (result or [])]
    assert expected in [text for _, text, _ in lines], f"{name}: rapidocr read {lines}"
    (ours,) = model(image)
    assert_same_reading(ours, lines, name)


def test_upside_down_line_is_turned_by_the_classifier(model: Any) -> None:
    upright = model(_render((600, 160), ["DELIVERY 1200"], 60, (40, 40)))[0]
    turned = model(_upside_down())[0]
    assert list(turned.text) == list(upright.text) == ["DELIVERY 1200"]
    # Quads stay in the caller's pixels: the upside-down line sits where it was drawn, mirrored.
    h, w = 160, 600
    mirrored = np.array([w, h], np.float32) - upright.quads[0][[2, 3, 0, 1]]
    assert np.abs(turned.quads[0] - mirrored).max() <= 3


# -- behaviour -------------------------------------------------------------------------------


def test_auto_model_loads_a_text_recognition_model(model: Any, model_dir: Path) -> None:
    assert isinstance(model, TextRecognitionModel)
    assert model.class_names == ("text",)
    assert model.package_dir == model_dir / "onnx"
    assert model.batch.max is None and not model.batch.static


def test_batch_of_mixed_sizes_equals_one_by_one(model: Any) -> None:
    images = [_plate(), _three_lines(), np.full((200, 300, 3), 255, np.uint8), _tiny(), _rotated()]
    batched = model(images)
    assert len(batched) == len(images)
    for image, together in zip(images, batched):
        (alone,) = model(image)
        assert list(together.text) == list(alone.text)
        np.testing.assert_array_equal(together.quads, alone.quads)
        np.testing.assert_array_equal(together.confidence, alone.confidence)
    assert [len(r) for r in batched] == [1, 3, 0, 2, 1]


def test_stages_called_separately_equal_call(model: Any) -> None:
    images = [_three_lines(), _plate()]
    prepared = model.pre_process(images)
    staged = model.post_process(model.forward(prepared), prepared)
    for a, b in zip(staged, model(images)):
        assert list(a.text) == list(b.text)
        np.testing.assert_array_equal(a.quads, b.quads)


@pytest.mark.parametrize("shape", [(480, 640, 3), (16, 16, 3), (1080, 1920, 3)])
def test_image_without_text_gives_empty_detections(model: Any, shape: tuple[int, int, int]) -> None:
    (result,) = model(np.full(shape, 128, np.uint8))
    assert isinstance(result, TextDetections)
    assert len(result) == 0
    assert result.quads.shape == (0, 4, 2) and result.text.shape == (0,) and result.confidence.shape == (0,)


def test_quads_are_clockwise_from_top_left_inside_the_image(model: Any) -> None:
    image = _three_lines()
    (result,) = model(image)
    quads = result.quads
    assert quads.dtype == np.float32 and quads.shape == (3, 4, 2)
    assert (quads[:, 1, 0] > quads[:, 0, 0]).all() and (quads[:, 3, 1] > quads[:, 0, 1]).all()
    assert (quads >= 0).all() and (quads[..., 0] <= image.shape[1]).all() and (quads[..., 1] <= image.shape[0]).all()
    assert (np.diff(quads[:, 0, 1]) > 0).all(), "lines come top to bottom"


def test_supervision_round_trip_keeps_text_and_quads(model: Any) -> None:
    (result,) = model(_three_lines())
    sv_detections = result.to_supervision()
    assert len(sv_detections) == 3
    np.testing.assert_array_equal(sv_detections.xyxy, result.xyxy)
    back = TextDetections.from_supervision(sv_detections)
    assert list(back.text) == list(result.text)
    np.testing.assert_array_equal(back.quads, result.quads)
    np.testing.assert_array_equal(back.confidence, result.confidence)


def test_unclip_distance_uses_shapely_area_and_perimeter_bit_for_bit() -> None:
    # rapidocr takes the unclip distance from shapely; vigil computes it without shapely.
    from shapely.geometry import Polygon

    from vigil.engine.models.ppocr._detection import _min_area_quad, _ring_area, _ring_length

    rng = np.random.default_rng(7)
    for scale in (10, 300, 3000):
        for _ in range(500):
            quad, _ = _min_area_quad((rng.random((6, 1, 2)) * scale).astype(np.float32))
            polygon = Polygon(quad)
            assert (_ring_area(quad), _ring_length(quad)) == (polygon.area, polygon.length)
