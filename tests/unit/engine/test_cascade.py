"""Cascade pieces: selecting detections, cropping, attaching outputs, and refusing bad secondaries."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vigil.engine import (
    Attached,
    AutoModel,
    CascadeRule,
    Detections,
    ModelCascade,
    attach,
    attached,
    check_secondary,
    crop,
    min_crop_size,
    run_secondary,
    select,
    validate_rule,
)
from vigil.engine._private.importers import import_rapidocr
from vigil.errors import ConfigError, ModelLoadError
from vigil.sinks.records import detections_to_json


def make(names: tuple[str, ...] | None = ("car", "plate", "car", "person")) -> Detections:
    data = {} if names is None else {"class_name": np.array(list(names))}
    return Detections(
        xyxy=np.array([[0, 0, 100, 50], [10, 10, 30, 20], [50, 50, 58, 70], [0, 0, 4, 4]], np.float32),
        confidence=np.array([0.9, 0.6, 0.3, 0.8], np.float32),
        class_id=np.array([0, 1, 0, 2]),
        data=data,
    )


def text(label: str, score: float = 0.5) -> Attached:
    return Attached(model="plate", kind="text", label=label, confidence=score, lines=((label, score),))


@pytest.fixture(scope="module")
def ppocr(tmp_path_factory: pytest.TempPathFactory) -> Any:
    source = Path(str(importlib.resources.files("rapidocr_onnxruntime")))
    folder = import_rapidocr(source, tmp_path_factory.mktemp("ppocr"), tmp_path_factory.mktemp("ppocr-scratch"))
    model = AutoModel.from_pretrained(folder)
    yield model
    model.close()


@pytest.fixture(scope="module")
def detector(nudenet_path: Path) -> Any:
    model = AutoModel.from_pretrained(nudenet_path)
    yield model
    model.close()


# -- select ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (CascadeRule("x"), [0, 1, 2, 3]),
        (CascadeRule("x", classes=frozenset({"car"})), [0, 2]),
        (CascadeRule("x", classes=frozenset({"car", "person"})), [0, 2, 3]),
        (CascadeRule("x", classes=frozenset({"truck"})), []),
        (CascadeRule("x", min_confidence=0.6), [0, 1, 3]),
        (CascadeRule("x", classes=frozenset({"car"}), min_confidence=0.5), [0]),
        (CascadeRule("x", min_size=8), [0, 1, 2]),
        (CascadeRule("x", min_size=10), [0, 1]),
        # 8 px wide, padded by 25% on each side: 12 px.
        (CascadeRule("x", min_size=12, pad=0.25), [0, 1, 2]),
    ],
)
def test_select_keeps_detections_by_class_confidence_and_size(rule: CascadeRule, expected: list[int]) -> None:
    index = select(rule, make())
    assert index.dtype == np.int64
    assert index.tolist() == expected


def test_select_compares_class_ids_as_text_when_the_model_has_no_class_names() -> None:
    assert select(CascadeRule("x", classes=frozenset({"0"})), make(names=None)).tolist() == [0, 2]


def test_select_measures_the_crop_clipped_to_the_image_when_given_its_shape() -> None:
    dets = Detections(xyxy=[[-20, 10, 6, 40], [90, 90, 130, 130]], confidence=[0.9, 0.9], class_id=[0, 0])
    rule = CascadeRule("x", min_size=8)
    assert select(rule, dets).tolist() == [0, 1]
    # Inside a 100x100 image the first crop is 6 px wide and the second 10x10.
    assert select(rule, dets, (100, 100, 3)).tolist() == [1]


def test_select_never_keeps_a_box_outside_the_image() -> None:
    dets = Detections(xyxy=[[120, 120, 160, 160]], confidence=[0.9], class_id=[0])
    assert select(CascadeRule("x"), dets, (100, 100, 3)).tolist() == []


# -- crop --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xyxy", "pad", "rows", "cols"),
    [
        ((10, 20, 30, 60), 0.0, (20, 60), (10, 30)),
        ((10.4, 20.6, 29.2, 59.5), 0.0, (20, 60), (10, 30)),  # fractional edges round outwards
        ((-15, -5, 30, 40), 0.0, (0, 40), (0, 30)),  # clipped at the top-left corner
        ((70, 50, 140, 130), 0.0, (50, 80), (70, 120)),  # clipped at the bottom-right corner
        ((20, 20, 40, 60), 0.5, (0, 80), (10, 50)),  # pad: half the width and height on each side
        ((100, 10, 110, 20), 0.1, (9, 21), (99, 111)),
    ],
)
def test_crop_cuts_the_padded_box_clipped_to_the_image(
    xyxy: tuple[float, ...], pad: float, rows: tuple[int, int], cols: tuple[int, int]
) -> None:
    image = np.arange(80 * 120 * 3, dtype=np.uint32).reshape(80, 120, 3).astype(np.uint8)
    out = crop(image, xyxy, pad)
    np.testing.assert_array_equal(out, image[rows[0] : rows[1], cols[0] : cols[1]])


def test_crop_is_a_view_of_the_image() -> None:
    image = np.zeros((50, 50, 3), np.uint8)
    out = crop(image, (10, 10, 20, 20))
    assert np.shares_memory(out, image)
    out[:] = 7
    assert int(image[15, 15, 0]) == 7 and int(image[5, 5, 0]) == 0


def test_crop_of_a_box_outside_the_image_is_empty() -> None:
    assert crop(np.zeros((50, 50, 3), np.uint8), (60, 60, 80, 80)).size == 0


# -- attach ------------------------------------------------------------------------------------


def test_attached_is_empty_dicts_before_anything_is_attached() -> None:
    assert attached(make()) == [{}, {}, {}, {}]


def test_attached_outputs_follow_their_detection_through_indexing_and_filters() -> None:
    dets = make()
    attach(dets, "plate", [1, 2], [text("AB 12"), text("CD 34")])
    attach(dets, "colour", np.array([2]), [Attached("colour", "classification", "red", 0.7, ((3, "red", 0.7),))])
    assert [sorted(a) for a in attached(dets)] == [[], ["plate"], ["colour", "plate"], []]
    cars = dets[dets.class_name == "car"]
    assert [a.get("plate", None) for a in attached(cars)] == [None, text("CD 34")]
    assert attached(cars)[1]["colour"].label == "red"
    assert attached(dets[1]) == [{"plate": text("AB 12")}]
    assert attached(dets[np.array([3, 1])]) == [{}, {"plate": text("AB 12")}]
    assert attached(dets[1:3])[1]["plate"] == text("CD 34")


def test_attaching_to_a_selection_leaves_the_detections_it_came_from_alone() -> None:
    dets = make()
    attach(dets, "plate", [0], [text("OLD")])
    subset = dets[np.array([0, 1])]
    attach(subset, "plate", [0], [text("NEW")])
    assert attached(dets)[0]["plate"].label == "OLD"
    assert attached(subset)[0]["plate"].label == "NEW"


def test_attach_refuses_indices_and_outputs_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="2 indices but 1 outputs"):
        attach(make(), "plate", [0, 1], [text("A")])


def test_attached_outputs_survive_a_round_trip_through_supervision() -> None:
    dets = make()
    attach(dets, "plate", [1], [text("AB 12")])
    sv_dets = dets.to_supervision()
    kept = sv_dets[sv_dets.confidence > 0.5]
    assert [dict(a) for a in kept.data["attached"]] == [{}, {"plate": text("AB 12")}, {}]
    assert attached(Detections.from_supervision(kept)) == [{}, {"plate": text("AB 12")}, {}]


# -- JSON --------------------------------------------------------------------------------------


def test_attached_classification_json_has_its_top_k_rounded() -> None:
    top = ((3, "smile", 0.91234567), (0, "neutral", 0.0512345678))
    out = Attached("face", "classification", "smile", 0.91234567, top)
    assert out.to_json() == {
        "kind": "classification",
        "label": "smile",
        "confidence": 0.912346,
        "votes": 1,
        "runs": 1,
        "fresh": True,
        "top_k": [
            {"class_id": 3, "class_name": "smile", "confidence": 0.912346},
            {"class_id": 0, "class_name": "neutral", "confidence": 0.051235},
        ],
    }


def test_attached_text_json_has_its_lines_and_votes() -> None:
    lines = (("TN", 0.9999999), ("09", 0.9000001))
    out = Attached("plate", "text", "TN 09", 0.95, lines=lines, votes=3, runs=4, fresh=False)
    assert out.to_json() == {
        "kind": "text",
        "label": "TN 09",
        "confidence": 0.95,
        "votes": 3,
        "runs": 4,
        "fresh": False,
        "lines": [{"text": "TN", "confidence": 1.0}, {"text": "09", "confidence": 0.9}],
    }


def test_records_carry_attached_outputs_only_on_detections_that_have_them() -> None:
    dets = make()
    assert all("attached" not in item for item in detections_to_json(dets))
    attach(dets, "plate", [1], [text("AB 12", 0.75)])
    items = detections_to_json(dets)
    assert items[1]["attached"] == {
        "plate": {
            "kind": "text",
            "label": "AB 12",
            "confidence": 0.75,
            "votes": 1,
            "runs": 1,
            "fresh": True,
            "lines": [{"text": "AB 12", "confidence": 0.75}],
        }
    }
    assert [("attached" in item) for item in items] == [False, True, False, False]


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"min_confidence": 1.5}, "min_confidence must be between 0 and 1"),
        ({"min_size": -1}, "min_size must be 0 or more"),
        ({"pad": -0.1}, "pad must be a fraction"),
        ({"top_k": 0}, "top_k must be 1 or more"),
    ],
)
def test_a_rule_with_a_bad_value_is_refused_naming_the_cascade(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"cascade 'plate': {message}"):
        CascadeRule("plate", **values)


def test_a_detector_as_secondary_is_refused(detector: Any) -> None:
    expected = (
        "cascade 'face': model '320n' is a .* but a cascade's secondary must be a classifier, an OCR model or an embedding model"
    )
    with pytest.raises(ModelLoadError, match=expected):
        check_secondary(detector, "face")
    with pytest.raises(ModelLoadError, match=expected):
        run_secondary(detector, [np.zeros((32, 32, 3), np.uint8)], "face")
    with pytest.raises(ModelLoadError, match=expected):
        ModelCascade(detector, {"face": (detector, CascadeRule("face", min_size=32))})


def test_an_ocr_model_as_primary_is_refused(ppocr: Any) -> None:
    with pytest.raises(ModelLoadError, match="a cascade's primary must be a detector"):
        ModelCascade(ppocr, {})


def test_min_size_below_the_secondarys_smallest_crop_is_refused(ppocr: Any) -> None:
    assert check_secondary(ppocr, "plate") == "text"
    smallest = min_crop_size(ppocr)
    assert smallest == 16
    validate_rule(CascadeRule("plate", min_size=smallest), ppocr)
    message = f"cascade 'plate': min_size 4 px is below the smallest crop .* \\({smallest} px\\); set min_size to {smallest}"
    with pytest.raises(ModelLoadError, match=message):
        validate_rule(CascadeRule("plate", min_size=4), ppocr)


def test_a_rule_named_unlike_its_cascade_is_refused(detector: Any, ppocr: Any) -> None:
    with pytest.raises(ConfigError, match="cascade 'plate': its rule is named 'text'"):
        ModelCascade(detector, {"plate": (ppocr, CascadeRule("text", min_size=16))})
