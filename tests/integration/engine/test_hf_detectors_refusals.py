"""`hf` folders that are not transformers object detectors, or are broken, are refused with a
message naming the file and what to do; never a traceback from deep in transformers."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import transformers

from tests.support.hf_detectors import detector_folder
from tests.support.tiny_hf import as_model_dir, build_dpt
from vigil.engine import AutoModel
from vigil.errors import MissingDependencyError, ModelLoadError


@pytest.fixture
def detr(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return Path(shutil.copytree(detector_folder("detr", tmp_path_factory), tmp_path / "detr"))


def edit_config(folder: Path, **changes: object) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_a_classifier_architecture_is_refused_listing_what_runs(detr: Path) -> None:
    edit_config(detr, architectures=["DetrForSegmentation"])
    with pytest.raises(
        ModelLoadError,
        match=r"DetrForSegmentation, which vigil does not run as an hf package.*any \.\.\.ForObjectDetection that "
        r"transformers' AutoModelForObjectDetection loads \(hf-detector/detect\)",
    ):
        AutoModel.from_pretrained(detr)


def test_an_object_detection_name_on_a_model_type_auto_does_not_load_is_refused(detr: Path) -> None:
    edit_config(detr, architectures=["ResNetForObjectDetection"], model_type="resnet")
    with pytest.raises(
        ModelLoadError,
        match=r"config\.json has model_type 'resnet', not an object detector transformers' AutoModelForObjectDetection "
        r"loads; the model types it loads: .*d_fine.*detr.*rt_detr",
    ):
        AutoModel.from_pretrained(detr)


def test_zero_shot_detectors_are_refused_pointing_at_owlv2(detr: Path) -> None:
    edit_config(detr, architectures=["GroundingDinoForObjectDetection"])
    with pytest.raises(ModelLoadError, match=r"GroundingDinoForObjectDetection, a zero-shot detector.*OWLv2"):
        AutoModel.from_pretrained(detr)
    edit_config(detr, architectures=["MyOwlForObjectDetection"], model_type="owlvit")
    with pytest.raises(ModelLoadError, match=r"model_type 'owlvit', a zero-shot detector that needs text prompts"):
        AutoModel.from_pretrained(detr)


def test_a_timm_backbone_without_timm_names_what_to_install(detr: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub DETR checkpoints (facebook/detr-resnet-50) build their ResNet with timm."""
    edit_config(detr, use_timm_backbone=True, backbone="resnet50")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "timm" else real(name, *a))
    with pytest.raises(
        MissingDependencyError, match=r"backbone \(resnet50\) with timm, which is not installed: pip install timm"
    ):
        AutoModel.from_pretrained(detr)


def test_an_image_processor_without_object_detection_post_processing_is_refused(detr: Path, tmp_path: Path) -> None:
    for name in ("preprocessor_config.json", "processor_config.json"):
        (detr / name).unlink(missing_ok=True)
    transformers.DPTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(detr)
    with pytest.raises(
        ModelLoadError, match=r"image processor in .*\(DPTImageProcessor\w*\) has no post_process_object_detection"
    ):
        AutoModel.from_pretrained(detr)


def test_a_config_that_is_not_json_is_refused(detr: Path) -> None:
    (detr / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"config\.json is not readable JSON"):
        AutoModel.from_pretrained(detr)


def test_truncated_weights_are_refused_naming_the_file(detr: Path) -> None:
    weights = detr / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match=r"model\.safetensors could not be loaded with .*config\.json.*save_pretrained"):
        AutoModel.from_pretrained(detr)


def test_weights_of_another_detector_are_refused(detr: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    shutil.copy(detector_folder("rt-detr", tmp_path_factory) / "model.safetensors", detr / "model.safetensors")
    with pytest.raises(ModelLoadError, match=r"model\.safetensors does not fit .*config\.json: \d+ weight\(s\) missing"):
        AutoModel.from_pretrained(detr)


def test_model_json_naming_a_detector_over_a_depth_model_is_refused(tmp_path: Path) -> None:
    root = as_model_dir(build_dpt(tmp_path / "dpt"), tmp_path / "says-detector", "hf-detector", "detect")
    with pytest.raises(ModelLoadError, match=r"model\.json says architecture 'hf-detector'.*DPTForDepthEstimation"):
        AutoModel.from_pretrained(root)
