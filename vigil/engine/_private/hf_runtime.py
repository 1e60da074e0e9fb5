"""Hugging Face (`hf`) packages: a transformers `save_pretrained` folder run with its own processor.

transformers and torch are imported only when an `hf` package loads (`import_hf`). A plain
`save_pretrained` folder (config.json + model.safetensors + the processor's files, no
model.json) is wrapped as a one-package model from its own config, like a bare `.onnx` export.

Besides the named families, any `...ForObjectDetection` that transformers'
`AutoModelForObjectDetection` loads (DETR, Conditional/Deformable DETR, YOLOS, RT-DETR, RT-DETRv2,
D-FINE, ...) is one family, `hf-detector`: they share one interface (the model's outputs and the
processor's `post_process_object_detection`), so vigil runs them all the same way.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.hashing import sha256_of
from vigil.engine._private.package_format import ModelMetadata, PackageMetadata, parse_model, parse_package
from vigil.engine._private.providers import ModelListing
from vigil.engine.options import BackendOptions
from vigil.errors import MissingDependencyError, ModelLoadError

__all__ = [
    "DETECTOR",
    "HF_FAMILIES",
    "HFLoaded",
    "check_detector",
    "describe_hf_folder",
    "detector_class_names",
    "import_hf",
    "load_hf",
    "rgb_images",
]

INSTALL_HINT = "pip install 'vigil-analytics[hf]'"
CONFIG_FILE = "config.json"
WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt")
_RESAVE = "save the model's weights and config together (model.save_pretrained(folder))"


@dataclass(frozen=True)
class HFFamily:
    """A transformers architecture vigil runs: its classes and the vigil (architecture, task)."""

    architecture: str
    task: str
    model_class: str
    processor_class: str
    needs_tokenizer: bool
    needs_modules: tuple[str, ...] = ()  # what the processor imports only when it runs


# config.json "architectures"[0] -> family. The loader maps (architecture, task, "hf") to the class.
HF_FAMILIES: dict[str, HFFamily] = {
    "CLIPModel": HFFamily("clip", "embed", "CLIPModel", "CLIPProcessor", True),
    "Owlv2ForObjectDetection": HFFamily(
        "owlv2", "zero-shot-detect", "Owlv2ForObjectDetection", "Owlv2Processor", True, ("scipy",)
    ),
    "DPTForDepthEstimation": HFFamily("dpt", "depth", "DPTForDepthEstimation", "DPTImageProcessor", False),
    "DepthAnythingForDepthEstimation": HFFamily(
        "depth-anything", "depth", "DepthAnythingForDepthEstimation", "AutoImageProcessor", False
    ),
    "BlipForQuestionAnswering": HFFamily("blip", "vlm", "BlipForQuestionAnswering", "BlipProcessor", True),
    "BlipForConditionalGeneration": HFFamily("blip-caption", "vlm", "BlipForConditionalGeneration", "BlipProcessor", True),
}
# Any other `...ForObjectDetection`: loaded through the Auto classes, checked at load against
# transformers' object-detection mapping (`check_detector`).
DETECTOR = HFFamily("hf-detector", "detect", "AutoModelForObjectDetection", "AutoImageProcessor", False)
DETECTOR_SUFFIX = "ForObjectDetection"
# Zero-shot detectors share the suffix but need text prompts; of those vigil runs OWLv2 only.
_MAX_CLASS_ID = 100_000
_ZERO_SHOT = ("OwlViTForObjectDetection", "GroundingDinoForObjectDetection", "MMGroundingDinoForObjectDetection")


def _runs() -> str:
    named = ", ".join(f"{name} ({f.architecture}/{f.task})" for name, f in HF_FAMILIES.items())
    return f"{named}, and any ...{DETECTOR_SUFFIX} that transformers' AutoModelForObjectDetection loads (hf-detector/detect)"


def import_hf() -> tuple[Any, Any]:
    """(torch, transformers), or a MissingDependencyError naming the extra."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingDependencyError(
            f"Hugging Face packages need transformers and torch ({exc.name or exc} is not installed): {INSTALL_HINT}"
        ) from exc
    transformers.utils.logging.disable_progress_bar()  # a daemon's log is no place for progress bars
    return torch, transformers


def read_config(folder: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{what}: {folder / CONFIG_FILE} is missing; save the model with save_pretrained") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{what}: {folder / CONFIG_FILE} is not readable JSON ({str(exc)[:200]})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{what}: {folder / CONFIG_FILE} must hold a JSON object")
    return data


def family_of(config: dict[str, Any], folder: Path, what: str) -> HFFamily:
    names = config.get("architectures") or []
    names = [name for name in names if isinstance(name, str)] if isinstance(names, list) else []
    for name in names:
        if name in HF_FAMILIES:
            return HF_FAMILIES[name]
    for name in names:
        if name in _ZERO_SHOT:
            raise ModelLoadError(
                f"{what}: {folder / CONFIG_FILE} describes {name}, a zero-shot detector that needs text prompts; "
                "of those vigil runs OWLv2 (Owlv2ForObjectDetection); save an Owlv2 model instead"
            )
        if name.endswith(DETECTOR_SUFFIX):
            return DETECTOR
    found = ", ".join(names) if names else f"model_type {config.get('model_type')!r}"
    raise ModelLoadError(
        f"{what}: {folder / CONFIG_FILE} describes {found}, which vigil does not run as an hf package; vigil runs: {_runs()}"
    )


def check_files(folder: Path, family: HFFamily, what: str) -> None:
    """The processor's config, the tokenizer (text families) and safetensors weights are there."""
    if not any((folder / name).is_file() for name in WEIGHTS_FILES):
        raise ModelLoadError(
            f"{what}: no model.safetensors in {folder}; save the model with save_pretrained "
            "(safetensors; vigil does not load pickled .bin weights)"
        )
    if not any((folder / name).is_file() for name in PROCESSOR_FILES):
        raise ModelLoadError(
            f"{what}: the processor's config ({' or '.join(PROCESSOR_FILES)}) is missing from {folder}; "
            f"save the processor there too ({family.processor_class}.save_pretrained(folder))"
        )
    if family.needs_tokenizer and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelLoadError(
            f"{what}: the tokenizer ({', '.join(TOKENIZER_FILES)}) is missing from {folder}; "
            f"save the processor with its tokenizer ({family.processor_class}.save_pretrained(folder))"
        )


def describe_hf_folder(path: Path) -> ModelListing:
    """A plain save_pretrained folder as a one-package model (package `hf`)."""
    what = f"model '{path}'"
    config = read_config(path, what)
    family = family_of(config, path, what)
    check_files(path, family, what)
    files = [
        {"name": p.name, "sha256": sha256_of(p), "size": p.stat().st_size}
        for p in sorted(path.iterdir())
        if p.is_file() and not p.name.startswith(".")
    ]
    model_id = re.sub(r"[^A-Za-z0-9_.-]", "_", path.resolve().name).lstrip("_.-")[:128] or "model"
    model = parse_model(
        {
            "model_id": model_id,
            "architecture": family.architecture,
            "task": family.task,
            "class_names": detector_class_names(config) if family is DETECTOR else [],
            # Informative only: an hf package's processor decides the input.
            "input": {"size": [224, 224], "resize": "stretch"},
        },
        what,
    )
    package = parse_package({"package_id": "hf", "backend": "hf", "batch": {"min": 1}, "files": files}, what)
    return ModelListing(model, [package], lambda _package: path)


@dataclass
class HFLoaded:
    """A loaded transformers model with its processor, on its device."""

    torch: Any
    model: Any
    processor: Any
    device: Any


def load_hf(model: ModelMetadata, package: PackageMetadata, folder: Path, backend: BackendOptions) -> HFLoaded:
    """Load the package's model and processor with the family's own transformers classes,
    refusing weights that do not fit the config (transformers would initialise them at random)."""
    what = f"package '{package.package_id}' of model '{model.model_id}'"
    if package.batch.static is not None:
        # vigil pads short batches for graphs that need it; a transformers model never does
        raise ModelLoadError(
            f"{what}: an hf package runs any batch size, so a static batch ({package.batch.describe()}) "
            'means nothing; give batch {"min": 1, "max": N} in package.json'
        )
    torch, transformers = import_hf()
    config = read_config(folder, what)
    family = family_of(config, folder, what)
    if (family.architecture, family.task) != (model.architecture, _family_task(model.task, family)):
        raise ModelLoadError(
            f"{what}: model.json says architecture '{model.architecture}', but {folder / CONFIG_FILE} is "
            f"{family.model_class} ({family.architecture}); fix model.json or the package"
        )
    check_files(folder, family, what)
    missing = [name for name in family.needs_modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependencyError(f"{what}: {family.processor_class} needs {', '.join(missing)}: {INSTALL_HINT}")
    if family is DETECTOR:
        check_detector(config, folder, what)
    if backend.intra_op_threads:
        torch.set_num_threads(backend.intra_op_threads)  # process-wide: torch has one intra-op pool
    net = _load_weights(transformers, family, folder, what)
    try:
        processor = getattr(transformers, family.processor_class).from_pretrained(folder)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelLoadError(f"{what}: {family.processor_class} could not load from {folder} ({str(exc)[:300]})") from exc
    if family is DETECTOR and not callable(getattr(processor, "post_process_object_detection", None)):
        raise ModelLoadError(
            f"{what}: the image processor in {folder} ({type(processor).__name__}) has no post_process_object_detection, "
            "so vigil cannot turn the model's outputs into boxes; save the detector's own image processor there"
        )
    # As for torchscript packages: CUDA when torch sees one, unless the execution providers asked
    # for leave it out. Untested here (no GPU).
    wants_gpu = backend.execution_providers is None or "CUDAExecutionProvider" in backend.execution_providers
    device = torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")
    return HFLoaded(torch, net.to(device).eval(), processor, device)


def _load_weights(transformers: Any, family: HFFamily, folder: Path, what: str) -> Any:
    from safetensors import SafetensorError  # installed with transformers

    weights, config = folder / WEIGHTS_FILES[0], folder / CONFIG_FILE
    try:  # mismatched sizes are loaded (and reported below) rather than raised, to name them
        net, info = getattr(transformers, family.model_class).from_pretrained(
            folder, output_loading_info=True, ignore_mismatched_sizes=True
        )
    except ImportError as exc:  # a module the config's classes need (e.g. a timm backbone)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise MissingDependencyError(f"{what}: {config} needs a module that is not installed: {first}") from exc
    except (RuntimeError, ValueError, OSError, SafetensorError) as exc:  # a truncated file: SafetensorError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ModelLoadError(f"{what}: {weights} could not be loaded with {config} ({first}); {_RESAVE}") from exc
    problems = [f"{name} missing" for name in sorted(info.get("missing_keys") or [])]
    problems += [
        f"{m[0]} is {list(m[1])} in the file, {list(m[2])} in the config" for m in sorted(info.get("mismatched_keys") or [])
    ]
    if problems:
        raise ModelLoadError(
            f"{what}: {weights} does not fit {config}: {len(problems)} weight(s) missing or of another shape "
            f"({'; '.join(problems[:3])}); {_RESAVE}"
        )
    return net


def check_detector(config: dict[str, Any], folder: Path, what: str) -> None:
    """The config is one AutoModelForObjectDetection loads, with what its backbone needs installed."""
    from transformers.models.auto import modeling_auto

    model_type = config.get("model_type")
    detectors = modeling_auto.MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES
    if model_type not in detectors:
        if model_type in modeling_auto.MODEL_FOR_ZERO_SHOT_OBJECT_DETECTION_MAPPING_NAMES:
            kind = "a zero-shot detector that needs text prompts (of those vigil runs OWLv2)"
        else:
            kind = "not an object detector transformers' AutoModelForObjectDetection loads"
        raise ModelLoadError(
            f"{what}: {folder / CONFIG_FILE} has model_type {model_type!r}, {kind}; "
            f"the model types it loads: {', '.join(sorted(detectors))}"
        )
    backbone = config.get("backbone_config")
    timm = config.get("use_timm_backbone") or (isinstance(backbone, dict) and backbone.get("model_type") == "timm_backbone")
    if timm and importlib.util.find_spec("timm") is None:
        raise MissingDependencyError(
            f"{what}: {folder / CONFIG_FILE} builds its backbone ({config.get('backbone') or 'a timm model'}) with timm, "
            "which is not installed: pip install timm"
        )


def detector_class_names(config: dict[str, Any]) -> list[str]:
    """The config's `id2label` as a list indexed by class id (a missing id is named by its number)."""
    labels = config.get("id2label")
    if not isinstance(labels, dict) or not labels:
        return []
    try:
        by_id = {int(key): str(value) for key, value in labels.items()}
    except (TypeError, ValueError):
        return []
    if min(by_id) < 0 or max(by_id) > _MAX_CLASS_ID:
        return []
    return [by_id.get(i, str(i)) for i in range(max(by_id) + 1)]


def _family_task(task: str, family: HFFamily) -> str:
    # A task override (e.g. zero-shot detection loaded as "detect") still names the same family.
    return family.task if task == "detect" else task


def rgb_images(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """vigil's BGR frames as the RGB arrays transformers' processors expect."""
    return [np.ascontiguousarray(image[:, :, ::-1]) for image in images]
