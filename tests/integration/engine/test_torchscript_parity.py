"""Same weights, two packages: nudenet's YOLOv8n as ONNX (onnxruntime) and as TorchScript (torch),
converted op by op in the test (tests/support/onnx_to_torch.py says why not onnx2torch). Their
detections must agree: same classes, boxes within 1e-3 px, scores within 1e-4, one image at a
time and in batches of 4, on scikit-image photos and the golden images; and the TorchScript
package matches Ultralytics' own predictions in shared/golden."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

# before torch loads: its OpenMP threads otherwise spin between ops, which on a shared 2-core
# machine makes every run many times slower (vigil does the same when it imports torch itself)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch

from tests.conftest import photo
from tests.model_packages import write_package
from tests.parity import assert_detections_match, is_stable
from tests.support.onnx_to_torch import onnx_to_torchscript
from tests.support.results import ListSink
from vigil.engine import AutoModel, Detections
from vigil.engine.developer_tools import import_ultralytics_onnx
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.sources import FileSource

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "immunohistochemistry")


@pytest.fixture(scope="module")
def twin_dir(tmp_path_factory: pytest.TempPathFactory, nudenet_path: Path) -> Path:
    """A model directory with package `onnx` (nudenet's export) and `torchscript` (its twin)."""
    tmp = tmp_path_factory.mktemp("twin")
    root = import_ultralytics_onnx(nudenet_path, tmp / "nudenet")
    script = onnx_to_torchscript(nudenet_path, tmp / "model.torchscript")
    write_package(root, "torchscript", {"model.torchscript": script}, backend="torchscript")
    return root


def both(root: Path, **options: object) -> tuple:
    onnx = AutoModel.from_pretrained(root, backend="onnx", **options)
    script = AutoModel.from_pretrained(root, backend="torchscript", **options)
    assert (onnx.package_id, onnx.backend, script.package_id, script.backend) == ("onnx", "onnx", "torchscript", "torchscript")
    return onnx, script


def assert_same(ours: Detections, ref: Detections, label: str) -> None:
    assert len(ours) == len(ref), f"{label}: {len(ours)} boxes on torch, {len(ref)} on onnxruntime"
    np.testing.assert_array_equal(ours.class_id, ref.class_id, err_msg=label)
    np.testing.assert_allclose(ours.xyxy, ref.xyxy, rtol=0, atol=1e-3, err_msg=label)
    np.testing.assert_allclose(ours.confidence, ref.confidence, rtol=0, atol=1e-4, err_msg=label)
    assert list(ours.data["class_name"]) == list(ref.data["class_name"]), label


@pytest.mark.parametrize("image_size", [320, 640])
def test_torchscript_detections_equal_onnx_one_image_at_a_time(twin_dir: Path, image_size: int) -> None:
    onnx, script = both(twin_dir, image_size=image_size, confidence=0.02)
    total = 0
    for name in PHOTOS:
        image = photo(name)
        (ref,), (ours,) = onnx([image]), script([image])
        assert_same(ours, ref, f"{name} at {image_size}")
        total += len(ref)
    assert total >= 10, f"only {total} boxes in all: the comparison would prove little"


def test_torchscript_detections_equal_onnx_in_batches_of_4(twin_dir: Path) -> None:
    onnx, script = both(twin_dir, image_size=640, confidence=0.05)
    images = [photo(name) for name in PHOTOS[:4]]
    ours, ref = script(images), onnx(images)
    for name, a, b in zip(PHOTOS, ours, ref):
        assert_same(a, b, f"{name} in a batch of 4")
    # a batch of one shape letterboxes differently from a batch of four shapes: both paths agree there too
    same_shape = [photo("astronaut")] * 4
    for a, b in zip(script(same_shape), onnx(same_shape)):
        assert_same(a, b, "astronaut x4")
    assert sum(len(d) for d in ref) >= 4


@pytest.mark.golden
def test_torchscript_equals_onnx_and_ultralytics_on_golden_images(twin_dir: Path, golden_dir: Path) -> None:
    gold = json.loads((golden_dir / "predictions" / "nudenet-320n_imgsz640_conf0.05.json").read_text())
    onnx, script = both(twin_dir, image_size=gold["imgsz"], confidence=gold["conf"], iou=gold["iou"])
    images = {name: cv2.imread(str(golden_dir / "images" / name), cv2.IMREAD_COLOR) for name in gold["images"]}
    assert len(images) >= 7
    for name, image in images.items():
        (ref,), (ours,) = onnx([image]), script([image])
        assert_same(ours, ref, name)
        entry = gold["images"][name]
        assert_detections_match(
            ours,
            entry["boxes_xyxy"],
            entry["confidence"],
            entry["class_id"],
            stable=is_stable(entry),
            label=f"torchscript {name}",
        )
    batch = list(images)[:4]
    for name, a, b in zip(batch, script([images[n] for n in batch]), onnx([images[n] for n in batch])):
        assert_same(a, b, f"{name} in a batch of 4")


def test_torchscript_package_runs_in_the_pipeline_like_onnx(twin_dir: Path, clips: dict[str, Path]) -> None:
    onnx, script = both(twin_dir, confidence=0.05)
    sink = ListSink()
    pipeline = Pipeline(script, [FileSource("cam", clips["astronaut"])], [sink], PipelineOptions(max_batch=4))
    report = asyncio.run(pipeline.run())
    assert report.failed_sources == [] and report.results == 24
    boxes = 0
    for result in sink.results:
        (ref,) = onnx([result.frame.image])
        assert_same(result.detections, ref, f"frame {result.frame.seq}")
        assert result.detections.data["class_name"].size == len(ref)
        boxes += len(ref)
    assert boxes >= 24


def test_resolver_ranks_the_torchscript_package_after_onnx_by_default(twin_dir: Path) -> None:
    assert AutoModel.from_pretrained(twin_dir).package_id == "onnx"
    preferred = AutoModel.from_pretrained(twin_dir, backend=["torchscript", "onnx"])
    assert type(preferred).__name__ == "YOLODetectionTorchScript" and preferred.package_id == "torchscript"


def test_intra_op_threads_size_torchs_pool(twin_dir: Path) -> None:
    before = torch.get_num_threads()
    try:
        AutoModel.from_pretrained(twin_dir, backend="torchscript", intra_op_threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


async def test_the_daemon_config_picks_the_backend_order_it_is_given(twin_dir: Path, tmp_path: Path) -> None:
    from vigil.config.pipeline import PipelineConfig
    from vigil.daemon.assemble import load_model

    chosen = {}
    for order in (None, ["torchscript", "onnx"], "onnx"):
        config = PipelineConfig.model_validate(
            {
                "model": {"path": str(twin_dir), "backend": order},
                "sources": [{"name": "cam", "url": str(tmp_path / "unused.mp4")}],
                "sinks": [{"kind": "jsonl", "path": str(tmp_path / "out.jsonl")}],
            }
        )
        model = await load_model(config)
        chosen[str(order)] = model.package_id
        model.close()
    assert chosen == {"None": "onnx", "['torchscript', 'onnx']": "torchscript", "onnx": "onnx"}
