"""Tiny random-weight transformers object detectors saved as `hf` folders (no model hub here).

One builder per family: a config with few layers and small widths (convolutional backbones are
transformers' own ResNet / RT-DETR ResNet / HGNetV2, so timm is never needed), weights seeded,
and `save_pretrained` of the model and its image processor into `folder`. The processors resize
to a few dozen pixels so that a forward takes milliseconds.

`detector_folder(family, tmp_path_factory)` builds each (family, seed) once per test session.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

transformers.utils.logging.disable_progress_bar()

LABELS = {0: "person", 1: "car", 2: "cup", 3: "cat"}
# DETR-style processors keep the aspect ratio (images of other shapes give tensors of other
# shapes); RT-DETR's and D-FINE's resize every image to one size.
_KEEP_ASPECT = {"shortest_edge": 48, "longest_edge": 80}
_FIXED = {"height": 64, "width": 64}
_DETR_SIZES = dict(
    d_model=32,
    encoder_layers=1,
    decoder_layers=2,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    encoder_attention_heads=2,
    decoder_attention_heads=2,
    num_queries=20,
)


def _labels() -> dict[str, Any]:
    return {"id2label": dict(LABELS), "label2id": {name: i for i, name in LABELS.items()}}


def _resnet(**kwargs: Any) -> transformers.ResNetConfig:
    return transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1], layer_type="basic", **kwargs
    )


def _spread(model: Any) -> None:
    """The default init gives every query nearly the same score (DETR: within 1e-5); larger head
    weights spread scores, classes and boxes so that a threshold keeps some boxes and drops others."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if re.search(r"query_position|detection_tokens|position_embeddings|patch_embeddings", name):
                param.normal_(0.0, 0.3)  # YOLOS starts its detection tokens at zero: one box 20 times
            elif re.search(r"decoder.*(q_proj|k_proj)", name) and param.dim() > 1:
                param.normal_(0.0, 0.5)  # DETR's queries differ only through attention
            elif re.search(r"class|bbox|score", name) and param.dim() > 1:
                param.normal_(0.0, 0.3)


def _save(model: Any, processor: Any, folder: Path) -> Path:
    _spread(model)
    model.eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_detr(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = transformers.DetrConfig(backbone_config=_resnet(out_features=["stage4"]), **_DETR_SIZES, **_labels())
    model = transformers.DetrForObjectDetection(config)
    return _save(model, transformers.DetrImageProcessor(size=_KEEP_ASPECT), folder)


def build_conditional_detr(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = transformers.ConditionalDetrConfig(backbone_config=_resnet(out_features=["stage4"]), **_DETR_SIZES, **_labels())
    model = transformers.ConditionalDetrForObjectDetection(config)
    return _save(model, transformers.ConditionalDetrImageProcessor(size=_KEEP_ASPECT), folder)


def build_deformable_detr(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = transformers.DeformableDetrConfig(
        backbone_config=_resnet(out_features=["stage2", "stage3", "stage4"]),
        num_feature_levels=3,
        encoder_n_points=2,
        decoder_n_points=2,
        **_DETR_SIZES,
        **_labels(),
    )
    model = transformers.DeformableDetrForObjectDetection(config)
    return _save(model, transformers.DeformableDetrImageProcessor(size=_KEEP_ASPECT), folder)


def build_yolos(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = transformers.YolosConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=[48, 80],
        patch_size=8,
        num_detection_tokens=20,
        **_labels(),
    )
    model = transformers.YolosForObjectDetection(config)
    return _save(model, transformers.YolosImageProcessor(size=_KEEP_ASPECT), folder)


def _rt_detr_sizes() -> dict[str, Any]:
    return dict(
        encoder_hidden_dim=32,
        encoder_in_channels=[16, 16, 32],
        encoder_ffn_dim=64,
        encoder_attention_heads=2,
        d_model=32,
        decoder_in_channels=[32, 32, 32],
        decoder_ffn_dim=64,
        decoder_attention_heads=2,
        decoder_layers=2,
        num_queries=30,
        num_denoising=0,
        **_labels(),
    )


def _tiny_resnet() -> transformers.RTDetrResNetConfig:
    """RT-DETR's (and RT-DETRv2's) ResNet backbone, tiny: basic blocks, three feature maps."""
    return transformers.RTDetrResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 16, 32],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        out_features=["stage2", "stage3", "stage4"],
    )


def build_rt_detr(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    backbone = _tiny_resnet()
    config = transformers.RTDetrConfig(backbone_config=backbone, **_rt_detr_sizes())
    model = transformers.RTDetrForObjectDetection(config)
    return _save(model, transformers.RTDetrImageProcessor(size=_FIXED), folder)


def build_rt_detr_v2(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    backbone = _tiny_resnet()
    config = transformers.RTDetrV2Config(backbone_config=backbone, **_rt_detr_sizes())
    model = transformers.RTDetrV2ForObjectDetection(config)
    return _save(model, transformers.RTDetrImageProcessor(size=_FIXED), folder)


def build_d_fine(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    backbone = transformers.HGNetV2Config(
        embedding_size=8,
        depths=[1, 1, 1, 1],
        hidden_sizes=[16, 16, 32, 32],
        stem_channels=[3, 8, 8],
        stage_in_channels=[8, 16, 16, 32],
        stage_mid_channels=[8, 8, 16, 16],
        stage_out_channels=[16, 16, 32, 32],
        stage_num_blocks=[1, 1, 1, 1],
        stage_numb_of_layers=[2, 2, 2, 2],
        out_features=["stage2", "stage3", "stage4"],
    )
    sizes = _rt_detr_sizes()
    sizes["encoder_in_channels"] = [16, 32, 32]
    config = transformers.DFineConfig(backbone_config=backbone, lqe_hidden_dim=16, max_num_bins=8, **sizes)
    model = transformers.DFineForObjectDetection(config)
    return _save(model, transformers.RTDetrImageProcessor(size=_FIXED), folder)


BUILDERS: dict[str, Callable[[Path, int], Path]] = {
    "detr": build_detr,
    "conditional-detr": build_conditional_detr,
    "deformable-detr": build_deformable_detr,
    "yolos": build_yolos,
    "rt-detr": build_rt_detr,
    "rt-detr-v2": build_rt_detr_v2,
    "d-fine": build_d_fine,
}
FAMILIES = tuple(BUILDERS)

_BUILT: dict[tuple[str, int], Path] = {}


def detector_folder(family: str, tmp_path_factory: Any, seed: int = 0) -> Path:
    """The family's tiny `save_pretrained` folder, built once per session (do not modify it: copy it)."""
    key = (family, seed)
    if key not in _BUILT:
        _BUILT[key] = BUILDERS[family](tmp_path_factory.mktemp(f"hf-{family}") / f"tiny-{family}", seed)
    return _BUILT[key]


def assert_same_detections(
    got: tuple[Any, Any, Any], want: tuple[Any, Any, Any], box_atol: float, score_atol: float, where: str = ""
) -> None:
    """`got` and `want` ((xyxy, scores, class ids) each) hold the same detections in any order:
    near-equal scores may swap places between a batched and a single forward."""
    boxes, scores, labels = (np.asarray(a) for a in got)
    assert len(scores) == len(want[1]), f"{where}: {len(scores)} detections, expected {len(want[1])}"
    unused = set(range(len(scores)))
    for box, score, label in zip(*want):
        candidates = [j for j in unused if labels[j] == label]
        assert candidates, f"{where}: no detection of class {label} left for the expected box {box}"
        errors = [max(np.abs(boxes[j] - box).max() / box_atol, abs(scores[j] - score) / score_atol) for j in candidates]
        best = int(np.argmin(errors))
        assert errors[best] <= 1.0, (
            f"{where}: expected box {box} ({score}) is not within tolerance of the nearest {boxes[candidates[best]]} ({scores[candidates[best]]})"
        )
        unused.discard(candidates[best])
