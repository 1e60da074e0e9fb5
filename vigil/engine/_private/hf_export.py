"""`vigil models export DIR --to onnx`: a transformers DETR-family detector as an `onnx` package.

The folder's model (RT-DETR, RT-DETRv2, D-FINE, DETR or Conditional DETR) is exported with its weights, and the
image processor's recipe goes into model.json's `parameters`, which vigil's own numpy pre- and
post-processing (`vigil.engine.models.detr`) read at load: no transformers or torch is needed to
run the package, only to make it.

Exporter: torch's TorchScript-based exporter (`dynamo=False`). With torch 2.13 the torch.export
(dynamo) exporter fixed RT-DETR's batch at the example's size and could not convert D-FINE's and
RT-DETRv2's `_is_all_true` checks, and needs onnxscript; the TorchScript one gives every family a
dynamic batch (and DETR a dynamic height and width) that equals transformers (checked below on
every export). Its deprecation warning is silenced.

Before anything is written the export is run on onnxruntime at batch 1 and 3 (DETR: at two
shapes too) and compared with the torch model on the same input; a difference above 1e-4 is an
error, not a package.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.hf_runtime import import_hf
from vigil.engine._private.importers import _write_model, _write_package
from vigil.engine._private.onnx_runtime import import_onnxruntime
from vigil.engine.models.detr._detr_ops import Recipe, ScoreRule
from vigil.errors import ConfigError, MissingDependencyError, ModelLoadError

__all__ = ["EXPORTABLE", "TOLERANCE", "ExportRequest", "ExportedModel", "export_onnx", "query_set_difference"]

# config.json "architectures"[0] -> (vigil architecture, how its scores are read, pairs read by
# a sigmoid top-k: None for as many as queries, else the processor's default `top_k`)
EXPORTABLE: dict[str, tuple[str, str, int | None]] = {
    "RTDetrForObjectDetection": ("rt-detr", "sigmoid-top-k", None),
    "RTDetrV2ForObjectDetection": ("rt-detr", "sigmoid-top-k", None),
    "DFineForObjectDetection": ("d-fine", "sigmoid-top-k", None),
    "DetrForObjectDetection": ("detr", "softmax", None),
    "ConditionalDetrForObjectDetection": ("conditional-detr", "sigmoid-top-k", 100),
}
# Not DeformableDetrForObjectDetection: its traced graph keeps the example's feature-map sizes
# (Python ints in its deformable attention), so it is wrong at any other image shape.
TOLERANCE = 1e-4
MIN_OPSET = 16  # grid_sample (RT-DETR's and D-FINE's deformable attention)
PACKAGE_ID = "onnx"
INSTALL_HINT = "pip install 'vigil-analytics[export]'"


@dataclass(frozen=True)
class ExportRequest:
    out: Path
    opset: int = 17
    # fixed-size families: (height, width) or (side,); DETR: (shortest edge,) or (shortest, longest)
    image_size: tuple[int, ...] | None = None
    # False only for benchmarks of random-weight models, whose tied query scores the runtimes break
    # differently (bench/detr_export.py); the CLI always compares
    verify: bool = True


@dataclass(frozen=True)
class ExportedModel:
    out: Path
    architecture: str
    source: str  # the transformers class
    max_difference: float  # largest |onnx - torch| over the checks (nan: not verified)
    opset: int


def export_onnx(folder: Path, request: ExportRequest, progress: Callable[[str], None] | None = None) -> ExportedModel:
    """Export the detector in `folder` into a new model directory `request.out`."""
    say = progress or (lambda _message: None)
    what = f"{folder}"
    source = _architecture(folder, what)
    if request.opset < MIN_OPSET:
        raise ConfigError(f"--opset {request.opset}: the DETR family needs opset {MIN_OPSET} or newer (grid_sample)")
    if request.out.exists() and (not request.out.is_dir() or any(request.out.iterdir())):
        raise ConfigError(f"{request.out} exists and is not empty; choose a new folder with --out")
    torch, transformers = _import_exporters()
    architecture, scores, top_k = EXPORTABLE[source]
    say(f"loading {source} from {folder}")
    net, processor = _load(torch, transformers, source, folder, what)
    recipe, spec = _recipe(processor, scores, request.image_size, what)
    recipe = dataclasses.replace(recipe, top_k=top_k)
    class_names = _class_names(net.config)
    anchors = getattr(net.config, "anchor_image_size", None)
    if anchors and recipe.size is not None and tuple(anchors) != recipe.size:
        # RT-DETR / D-FINE precompute their anchors for this size; at another they are made from
        # the feature maps' shapes, as in training (the same function)
        net.config.anchor_image_size = None
    wrapper = _outputs_module(torch, net).eval()
    request.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".vigil-export-", dir=request.out.parent) as tmp:
        graph = Path(tmp) / "model.onnx"
        example = _example(torch, recipe, 2)
        say(f"exporting to ONNX (opset {request.opset})")
        _export(torch, wrapper, example, graph, request.opset, dynamic_hw=recipe.size is None)
        difference = float("nan")
        if request.verify:
            say("checking the export against transformers at batch 1 and 3")
            difference = _check(torch, wrapper, graph, recipe, what)
        model = {
            "model_id": _model_id(request.out),
            "architecture": architecture,
            "task": "detect",
            "class_names": class_names,
            "input": spec,
            "parameters": {**recipe.parameters(), "exported_from": source},
        }
        staging = Path(tmp) / "model"
        _write_model(staging, model)
        package = {"backend": "onnx", "batch": {"min": 1}, "onnx": {"opset": request.opset}}
        _write_package(staging, PACKAGE_ID, {"model.onnx": graph}, package)
        request.out.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            shutil.move(str(item), request.out / item.name)
    return ExportedModel(request.out, architecture, source, difference, request.opset)


def _import_exporters() -> tuple[Any, Any]:
    """(torch, transformers), and onnx present, or a MissingDependencyError naming the extra."""
    try:
        torch, transformers = import_hf()
    except MissingDependencyError as exc:
        raise MissingDependencyError(f"{exc}; for `vigil models export`: {INSTALL_HINT}") from exc
    if importlib.util.find_spec("onnx") is None:
        raise MissingDependencyError(f"`vigil models export` writes the graph with onnx, which is not installed: {INSTALL_HINT}")
    return torch, transformers


def _architecture(folder: Path, what: str) -> str:
    config_path = folder / "config.json"
    if not folder.is_dir() or not config_path.is_file():
        raise ConfigError(f"{what}: not a transformers save_pretrained folder (no config.json); give the detector's folder")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{what}: {config_path} is not readable JSON ({str(exc)[:200]})") from None
    names = config.get("architectures") if isinstance(config, dict) else None
    names = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
    for name in names:
        if name in EXPORTABLE:
            return name
    found = ", ".join(names) or "no architectures"
    detector = any(n.endswith("ForObjectDetection") for n in names)
    raise ConfigError(
        f"{what}: {config_path} describes {found}, "
        + ("an object detector vigil cannot export yet" if detector else "not an object detector")
        + f"; `vigil models export --to onnx` exports {', '.join(EXPORTABLE)}"
        + ("; run it as an hf package instead" if detector else "")
    )


def _load(torch: Any, transformers: Any, source: str, folder: Path, what: str) -> tuple[Any, Any]:
    if not any((folder / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")):
        raise ConfigError(f"{what}: no model.safetensors; save the model with save_pretrained (vigil does not load .bin)")
    try:
        # float32 whatever the file holds (transformers 5 keeps a bfloat16 save in bfloat16)
        net, info = getattr(transformers, source).from_pretrained(folder, output_loading_info=True, dtype=torch.float32)
        processor = transformers.AutoImageProcessor.from_pretrained(folder)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ModelLoadError(f"{what}: transformers could not load the model and its image processor ({first})") from exc
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise ModelLoadError(
            f"{what}: model.safetensors does not fit config.json ({len(missing)} weight(s) missing, e.g. {missing[0]}); "
            "save the model's weights and config together (model.save_pretrained(folder))"
        )
    return net.eval(), processor


def _size_of(size: Any) -> dict[str, int | None]:
    keys = ("height", "width", "shortest_edge", "longest_edge")
    if isinstance(size, dict):
        return {k: size.get(k) for k in keys}
    return {k: getattr(size, k, None) for k in keys}


def _recipe(processor: Any, scores: str, image_size: tuple[int, ...] | None, what: str) -> tuple[Recipe, dict[str, Any]]:
    """The processor's recipe, and model.json's `input` (DETR's rule lives in the recipe; `input`
    then records its shortest edge and a dynamic size)."""
    if getattr(processor, "pad_size", None) or not getattr(processor, "do_resize", True):
        raise ConfigError(f"{what}: the image processor pads to a fixed pad_size or does not resize; vigil cannot export it")
    recipe = _resize_recipe(
        _size_of(processor.size), Recipe.check_scores(scores), int(getattr(processor, "resample", 2)), image_size, what
    )
    normalize = bool(getattr(processor, "do_normalize", False))
    spec = {
        "size": list(recipe.size or (recipe.shortest_edge, recipe.shortest_edge)),
        "color": "rgb",
        "resize": "stretch",
        "normalization": {
            "scale": float(processor.rescale_factor) if getattr(processor, "do_rescale", True) else 1.0,
            "mean": [float(v) for v in processor.image_mean] if normalize else [0.0, 0.0, 0.0],
            "std": [float(v) for v in processor.image_std] if normalize else [1.0, 1.0, 1.0],
        },
        "dynamic_size": recipe.size is None,
        "stride": 1,
    }
    return recipe, spec


def _resize_recipe(
    size: dict[str, int | None], scores: ScoreRule, resample: int, image_size: tuple[int, ...] | None, what: str
) -> Recipe:
    """The processor's size (or --image-size) as a fixed (height, width) or DETR's edge rule."""
    height, width, shortest = size["height"], size["width"], size["shortest_edge"]
    if height and width:
        if image_size:
            height, width = image_size[0], image_size[-1]
        return Recipe(scores, resample, size=(int(height), int(width)))
    if shortest:
        longest = size["longest_edge"]
        if image_size:
            shortest, longest = image_size[0], (image_size[1] if len(image_size) > 1 else None)
        if longest is not None and longest < shortest:
            raise ConfigError(f"--image-size {shortest},{longest}: DETR's longest edge must not be below its shortest")
        return Recipe(scores, resample, shortest_edge=int(shortest), longest_edge=longest)
    raise ConfigError(f"{what}: the image processor's size {size} is neither height/width nor shortest/longest edge")


def _class_names(config: Any) -> list[str]:
    labels = {int(k): str(v) for k, v in (config.id2label or {}).items()}
    count = max(int(config.num_labels), max(labels, default=-1) + 1)
    return [labels.get(i, f"class_{i}") for i in range(count)]


def _model_id(out: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", out.resolve().name).lstrip("_.-")[:128] or "model"


def _outputs_module(torch: Any, net: Any) -> Any:
    """The model as a torch module `pixel_values -> (logits, pred_boxes)` (torch is optional:
    the class is made here, when it is imported)."""

    class Outputs(torch.nn.Module):
        """pixel_values -> (logits, pred_boxes), the two outputs the ONNX graph keeps."""

        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, pixel_values: Any) -> tuple[Any, Any]:
            out = self.net(pixel_values=pixel_values)
            return out.logits, out.pred_boxes

    return Outputs()


def _example(torch: Any, recipe: Recipe, batch: int, shape: tuple[int, int] | None = None) -> Any:
    if shape is None:
        shape = recipe.size or recipe.target_size(480, 640)
    # smooth blobs rather than pixel noise: closer to a photo's statistics, so a model's
    # selection of its best queries is as far from a tie as it is on real frames
    generator = torch.Generator().manual_seed(batch)
    coarse = torch.rand((batch, 3, max(2, shape[0] // 16), max(2, shape[1] // 16)), generator=generator) * 4 - 2
    return torch.nn.functional.interpolate(coarse, size=shape, mode="bilinear", align_corners=False)


def _export(torch: Any, wrapper: Any, example: Any, graph: Path, opset: int, dynamic_hw: bool) -> None:
    axes: dict[str, dict[int, str]] = {"pixel_values": {0: "batch"}, "logits": {0: "batch"}, "pred_boxes": {0: "batch"}}
    if dynamic_hw:
        axes["pixel_values"].update({2: "height", 3: "width"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
        try:
            torch.onnx.export(
                wrapper,
                (example,),
                str(graph),
                input_names=["pixel_values"],
                output_names=["logits", "pred_boxes"],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
        except Exception as exc:  # torch raises many kinds (UnsupportedOperatorError, RuntimeError ...)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ModelLoadError(
                f"torch.onnx.export failed at opset {opset} ({first}); when it names an operator, try another --opset"
            ) from exc


def _check(torch: Any, wrapper: Any, graph: Path, recipe: Recipe, what: str) -> float:
    """The largest difference between onnxruntime and torch over batch 1 and 3 (DETR: and a
    second shape), per image as `query_set_difference`."""
    ort = import_onnxruntime()
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    cases = [(1, None), (3, None)] + ([(2, recipe.target_size(640, 480))] if recipe.size is None else [])
    worst = 0.0
    for batch, shape in cases:
        example = _example(torch, recipe, batch, shape)
        with torch.no_grad():
            expected = [t.numpy() for t in wrapper(example)]
        got = session.run(None, {"pixel_values": example.numpy()})
        for name, want, have in zip(("logits", "pred_boxes"), expected, got):
            if want.shape != have.shape:
                raise ModelLoadError(f"{what}: the ONNX export gives {name} {have.shape} at batch {batch}, torch {want.shape}")
        for image in range(batch):
            worst = max(worst, query_set_difference(expected, got, image))
    if worst > TOLERANCE:
        raise ModelLoadError(
            f"{what}: the ONNX export differs from transformers by {worst:.2g} (more than {TOLERANCE}); nothing was "
            "written. Untrained (random) weights can tie the scores by which the model picks its queries, and "
            "the two runtimes break ties differently; for a trained model, report its config.json"
        )
    return worst


def query_set_difference(want: list[np.ndarray], have: list[np.ndarray], image: int) -> float:
    """The largest |difference| between two (logits, pred_boxes) outputs of one image, query by
    query; when that passes TOLERANCE, between the queries taken as sets (each row to its nearest
    row of the other, both ways). The decoder treats its queries alike whatever their order, and
    RT-DETR's encoder picks them by a top-k whose near-ties (a random-weight model's) onnxruntime
    and torch may order differently: the same queries in another order are the same output."""
    rows_want = np.concatenate([want[0][image], want[1][image]], axis=1).astype(np.float64)
    rows_have = np.concatenate([have[0][image], have[1][image]], axis=1).astype(np.float64)
    in_order = float(np.abs(rows_want - rows_have).max())
    if in_order <= TOLERANCE:
        return in_order
    distance = np.abs(rows_want[:, None, :] - rows_have[None, :, :]).max(axis=2)
    return max(float(distance.min(axis=1).max()), float(distance.min(axis=0).max()))
