"""Parity with Ultralytics' own predictions in shared/golden (skipped when it is absent)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.parity import assert_detections_match, is_stable
from tests.support.results import ListSink
from vigil.engine import AutoModel
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.sources import FileSource

pytestmark = pytest.mark.golden

NUDENET_FILES = ["nudenet-320n_imgsz320.json", "nudenet-320n_imgsz640.json", "nudenet-320n_imgsz640_conf0.05.json"]


def load(golden_dir: Path, name: str) -> dict:
    return json.loads((golden_dir / "predictions" / name).read_text())


def read(golden_dir: Path, name: str) -> np.ndarray:
    return cv2.imread(str(golden_dir / "images" / name), cv2.IMREAD_COLOR)


def check_entry(model, image: np.ndarray, entry: dict, label: str) -> None:
    prepared = model.pre_process([image])
    assert list(prepared.tensor.shape[1:]) == entry["input_shape"][1:], f"{label}: letterboxed shape"
    (dets,) = model.post_process(model.forward(prepared), prepared)
    assert_detections_match(
        dets, entry["boxes_xyxy"], entry["confidence"], entry["class_id"], stable=is_stable(entry), label=label
    )


@pytest.mark.parametrize("predictions", NUDENET_FILES)
def test_nudenet_matches_ultralytics_on_every_golden_image(golden_dir, nudenet_path, predictions):
    gold = load(golden_dir, predictions)
    model = AutoModel.from_pretrained(nudenet_path, image_size=gold["imgsz"], confidence=gold["conf"], iou=gold["iou"])
    assert len(gold["images"]) >= 7
    for name, entry in gold["images"].items():
        check_entry(model, read(golden_dir, name), entry, f"{predictions}:{name}")


@pytest.mark.parametrize("model_name", ["yolo11n", "yolo11n-b4"])
def test_random_weight_yolo11n_matches_ultralytics_per_image(golden_dir, model_name):
    gold = load(golden_dir, f"{model_name}.json")
    path = golden_dir / "models" / f"{model_name}.onnx"
    for name, entry in gold["images"].items():
        model = AutoModel.from_pretrained(path, confidence=entry["conf"], iou=gold["iou"])
        check_entry(model, read(golden_dir, name), entry, f"{model_name}:{name}")


@pytest.mark.parametrize("model_name", ["yolo11n", "yolo11n-b4"])
def test_batched_call_of_four_shapes_matches_ultralytics(golden_dir, model_name):
    call = load(golden_dir, f"{model_name}.json")["batched_call"]
    model = AutoModel.from_pretrained(golden_dir / "models" / f"{model_name}.onnx", confidence=call["conf"])
    images = [read(golden_dir, name) for name in call["images"]]
    prepared = model.pre_process(images)
    assert list(prepared.tensor.shape) == call["input_shape"]  # mixed shapes: square even when dynamic
    results = model.post_process(model.forward(prepared), prepared)
    for dets, entry in zip(results, call["results"]):
        # The batched call is flagged unstable as a whole in the README.
        assert_detections_match(
            dets, entry["boxes_xyxy"], entry["confidence"], entry["class_id"], stable=False, label=entry["image"]
        )


def test_static_batch_4_model_pads_a_single_image(golden_dir):
    model = AutoModel.from_pretrained(golden_dir / "models" / "yolo11n-b4.onnx")
    assert model.batch.static and model.batch.max == 4
    assert len(model([read(golden_dir, "coffee.png")])) == 1
    assert len(model([read(golden_dir, "coffee.png")] * 6)) == 6


def test_video_through_the_pipeline_matches_ultralytics_frame_by_frame(golden_dir, nudenet_path):
    video = golden_dir / "video" / "kenburns_640x480_30fps.mp4"
    lines = (golden_dir / "video" / "kenburns_640x480_30fps.nudenet_imgsz640.jsonl").read_text().splitlines()
    gold = [json.loads(line) for line in lines]
    model = AutoModel.from_pretrained(nudenet_path, image_size=640)
    sink = ListSink()
    pipeline = Pipeline(model, [FileSource("kenburns", video)], [sink], PipelineOptions(max_batch=4))
    report = asyncio.run(pipeline.run())
    assert report.failed_sources == [] and report.results == len(gold) == 300
    for result, entry in zip(sink.results, gold):
        assert result.frame.seq == entry["frame"]
        assert round(result.frame.pts * 15360) == entry["pts"]
        assert_detections_match(
            result.detections, entry["boxes_xyxy"], entry["confidence"], entry["class_id"], label=f"frame {entry['frame']}"
        )
    assert sum(len(r.detections) for r in sink.results) == 277
