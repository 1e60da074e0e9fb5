"""Hugging Face (`hf`) packages: a transformers `save_pretrained` folder run with its own processor.

transformers and torch are imported only when an `hf` package loads (`import_hf`). A plain
`save_pretrained` folder (config.json + model.safetensors + the processor's files, no
model.json) is wrapped as a one-package model from its own config, like a bare `.onnx` export.
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

__all__ = ["HF_FAMILIES", "HFLoaded", "describe_hf_folder", "import_hf", "load_hf", "rgb_images"]

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


def _runs() -> str:
    return ", ".join(f"{name} ({f.architecture}/{f.task})" for name, f in HF_FAMILIES.items())


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
    for name in names if isinstance(names, list) else []:
        if name in HF_FAMILIES:
            return HF_FAMILIES[name]
    found = ", ".join(map(str, names)) if isinstance(names, list) and names else f"model_type {config.get('model_type')!r}"
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
    family = family_of(read_config(path, what), path, what)
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
            "class_names": [],
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
    family = family_of(read_config(folder, what), folder, what)
    if (family.architecture, family.task) != (model.architecture, _family_task(model.task, family)):
        raise ModelLoadError(
            f"{what}: model.json says architecture '{model.architecture}', but {folder / CONFIG_FILE} is "
            f"{family.model_class} ({family.architecture}); fix model.json or the package"
        )
    check_files(folder, family, what)
    missing = [name for name in family.needs_modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependencyError(f"{what}: {family.processor_class} needs {', '.join(missing)}: {INSTALL_HINT}")
    if backend.intra_op_threads:
        torch.set_num_threads(backend.intra_op_threads)  # process-wide: torch has one intra-op pool
    net = _load_weights(transformers, family, folder, what)
    try:
        processor = getattr(transformers, family.processor_class).from_pretrained(folder)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelLoadError(f"{what}: {family.processor_class} could not load from {folder} ({str(exc)[:300]})") from exc
    # As for torchscript packages: CUDA when torch sees one, unless the execution providers asked
    # for leave it out. Untested here (no GPU).
    wants_gpu = backend.execution_providers is None or "CUDAExecutionProvider" in backend.execution_providers
    device = torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")
    return HFLoaded(torch, net.to(device).eval(), processor, device)


def _load_weights(transformers: Any, family: HFFamily, folder: Path, what: str) -> Any:
    weights, config = folder / WEIGHTS_FILES[0], folder / CONFIG_FILE
    try:  # mismatched sizes are loaded (and reported below) rather than raised, to name them
        net, info = getattr(transformers, family.model_class).from_pretrained(
            folder, output_loading_info=True, ignore_mismatched_sizes=True
        )
    except (RuntimeError, ValueError, OSError) as exc:
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


def _family_task(task: str, family: HFFamily) -> str:
    # A task override (e.g. zero-shot detection loaded as "detect") still names the same family.
    return family.task if task == "detect" else task


def rgb_images(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """vigil's BGR frames as the RGB arrays transformers' processors expect."""
    return [np.ascontiguousarray(image[:, :, ::-1]) for image in images]
