"""From a reference to a loaded model: provider -> resolver -> fetch -> model class, in rank order."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path
from typing import Any

from vigil.engine._private import resolution_cache
from vigil.engine._private.environment import RuntimeEnvironment, current_environment
from vigil.engine._private.package_format import ModelMetadata, PackageMetadata, safe_member_path
from vigil.engine._private.providers import ModelListing, get_provider, parse_reference, verified_package_dir
from vigil.engine._private.resolver import Refused, Resolution, ResolutionRequest, resolve
from vigil.engine.base import Model
from vigil.engine.options import BackendOptions, DetectionOptions
from vigil.errors import ModelLoadError, ModelNotFoundError, ModelResolutionError, VigilError

log = logging.getLogger(__name__)

# (architecture, task, backend) -> "module:Class", imported only when chosen, so no backend
# library loads unless a package of its kind is used.
_IMPLEMENTATIONS: dict[tuple[str, str, str], str] = {
    ("yolo", "detect", "onnx"): "vigil.engine.models.yolo.yolo_detection_onnx:YOLODetectionONNX",
    ("yolo", "segment", "onnx"): "vigil.engine.models.yolo.yolo_segmentation_onnx:YOLOSegmentationONNX",
    ("yolo", "pose", "onnx"): "vigil.engine.models.yolo.yolo_pose_onnx:YOLOPoseONNX",
    ("yolo", "classify", "onnx"): "vigil.engine.models.yolo.yolo_classification_onnx:YOLOClassificationONNX",
    ("ppocr", "ocr", "onnx"): "vigil.engine.models.ppocr.ppocr_onnx:PPOCRONNX",
    ("ppocr", "detect", "onnx"): "vigil.engine.models.ppocr.ppocr_text_detection_onnx:PPOCRTextDetectionONNX",
    ("yolo", "detect", "trt"): "vigil.engine.models.yolo.yolo_detection_trt:YOLODetectionTRT",
    ("yolo", "segment", "trt"): "vigil.engine.models.yolo.yolo_detection_trt:YOLOSegmentationTRT",
    ("yolo", "pose", "trt"): "vigil.engine.models.yolo.yolo_detection_trt:YOLOPoseTRT",
    ("yolo", "classify", "trt"): "vigil.engine.models.yolo.yolo_detection_trt:YOLOClassificationTRT",
    ("yolo", "detect", "torchscript"): "vigil.engine.models.yolo.yolo_detection_torchscript:YOLODetectionTorchScript",
    ("clip", "embed", "hf"): "vigil.engine.models.hf.clip:CLIPEmbeddingHF",
    ("owlv2", "zero-shot-detect", "hf"): "vigil.engine.models.hf.owlv2:Owlv2ZeroShotHF",
    ("owlv2", "detect", "hf"): "vigil.engine.models.hf.owlv2:Owlv2DetectorHF",
    ("dpt", "depth", "hf"): "vigil.engine.models.hf.dpt:DPTDepthHF",
    ("depth-anything", "depth", "hf"): "vigil.engine.models.hf.dpt:DPTDepthHF",
    ("blip", "vlm", "hf"): "vigil.engine.models.hf.blip:BlipVQAHF",
    ("blip-caption", "vlm", "hf"): "vigil.engine.models.hf.blip:BlipVQAHF",
}


def implementation(architecture: str, task: str, backend: str) -> Any:
    target = _IMPLEMENTATIONS[(architecture, task, backend)]
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def check_task(model: ModelMetadata, task: str | None) -> None:
    """Refuse a task override (`AutoModel.from_pretrained(task=...)`: run this package as another
    task, e.g. PP-OCR's text detector alone as "detect") that vigil has no implementation of."""
    if task is None or task == model.task:
        return
    tasks = sorted({t for arch, t, _ in _IMPLEMENTATIONS if arch == model.architecture})
    if task not in tasks:
        raise ModelLoadError(
            f"model '{model.model_id}' ({model.architecture}, task '{model.task}') cannot be loaded as task "
            f"'{task}': vigil runs '{model.architecture}' models as {', '.join(repr(t) for t in tasks) or 'nothing'}; "
            "pick one of those or drop the task option"
        )


def model_class(model: ModelMetadata, package: PackageMetadata, folder: Path, task: str | None = None) -> Any:
    """The class that loads `package`: its own code (`entrypoint`, untrusted, already allowed by
    the resolver) or vigil's implementation for (architecture, task, backend), where `task`
    overrides the model's own."""
    if package.entrypoint is None:
        check_task(model, task)
        return implementation(model.architecture, task or model.task, package.backend.value)
    if task not in (None, model.task):
        raise ModelLoadError(
            f"package '{package.package_id}' runs its own code ({package.entrypoint}) as task '{model.task}'; "
            f"it cannot be loaded as task '{task}'"
        )
    file_name, _, class_name = package.entrypoint.partition(":")
    path = folder / safe_member_path(file_name)
    spec = importlib.util.spec_from_file_location(
        f"vigil_package_{model.model_id}_{package.package_id}".replace("-", "_").replace(".", "_"), path
    )
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"package '{package.package_id}': cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelLoadError(f"package '{package.package_id}': {file_name} failed to import: {exc!r}") from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not callable(getattr(cls, "from_package", None)):
        raise ModelLoadError(
            f"package '{package.package_id}': {package.entrypoint} must name a class with a from_package classmethod"
        )
    return cls


def list_model(ref: str | Path) -> tuple[str, ModelListing]:
    reference = parse_reference(ref)
    return str(reference), get_provider(reference.provider)(reference.model_id)


def resolve_listing(
    listing: ModelListing, request: ResolutionRequest, env: RuntimeEnvironment, task: str | None = None
) -> Resolution:
    """The resolver's answer, with packages vigil has no code for (as `task`, default the
    model's own) moved to the refused list."""
    model = listing.model
    check_task(model, task)
    task = task or model.task
    resolution = resolve(listing.packages, request, env)
    runnable, refused = [], list(resolution.refused)
    for candidate in resolution.candidates:
        key = (model.architecture, task, candidate.package.backend.value)
        own_code = candidate.package.entrypoint is not None
        if (key in _IMPLEMENTATIONS and not own_code) or (own_code and task == model.task):
            runnable.append(candidate)
        elif own_code:
            refused.append(Refused(candidate.package.package_id, (f"it runs its own code as task '{model.task}', not '{task}'",)))
        else:
            refused.append(
                Refused(
                    candidate.package.package_id,
                    (
                        f"vigil has no '{task}' implementation of '{model.architecture}' on backend "
                        f"'{key[2]}' yet (it runs: {', '.join('/'.join(k) for k in _IMPLEMENTATIONS)})",
                    ),
                )
            )
    return Resolution(tuple(runnable), tuple(refused))


def load_model(
    ref: str | Path,
    request: ResolutionRequest,
    options: DetectionOptions,
    backend: BackendOptions,
    env: RuntimeEnvironment | None = None,
    *,
    cache_ttl_s: float = resolution_cache.DEFAULT_TTL_S,
    task: str | None = None,
) -> Model:
    """Resolve `ref` and load the best package; `task` loads it as another task than its
    model.json says, where vigil has an implementation for that (see `check_task`)."""
    env = env or current_environment()
    reference = parse_reference(ref)
    name = str(reference)
    # An override can change which packages are runnable, so it resolves (and caches) on its own.
    cache_ref = name if task is None else f"{name}#task={task}"
    key = resolution_cache.entry_key(cache_ref, request, env.fingerprint()) if reference.provider != "local" else None
    cached = resolution_cache.read_entry(key) if key else None
    if cached is not None and cached.age_s() < cache_ttl_s:
        model = _load_cached(cached, options, backend, task)
        if model is not None:
            return model
    try:
        listing = get_provider(reference.provider)(reference.model_id)
    except (ModelNotFoundError, ModelLoadError) as exc:
        if cached is None:
            raise
        log.warning("model '%s': provider failed (%s); using the resolution cached %.1f h ago", name, exc, cached.age_s() / 3600)
        model = _load_cached(cached, options, backend, task)
        if model is None:
            raise
        return model
    resolution = resolve_listing(listing, request, env, task)
    model, package = _load_listing(name, listing, resolution, options, backend, task)
    if key:
        resolution_cache.write_entry(key, name, listing.model, package, model.package_dir)
    return model


def _load_cached(
    cached: resolution_cache.CachedResolution, options: DetectionOptions, backend: BackendOptions, task: str | None
) -> Model | None:
    package = cached.package
    try:
        folder = verified_package_dir(cached.folder, package)
        model = _instantiate(cached.model, package, folder, options, backend, task)
        log.info("model '%s': loaded package '%s' from the resolution cache", cached.ref, package.package_id)
        return model
    except (VigilError, KeyError) as exc:
        log.warning("model '%s': cached package '%s' unusable (%s); resolving again", cached.ref, package.package_id, exc)
        return None


def _instantiate(
    model: ModelMetadata,
    package: PackageMetadata,
    folder: Path,
    options: DetectionOptions,
    backend: BackendOptions,
    task: str | None,
) -> Model:
    cls = model_class(model, package, folder, task)
    if task is not None and task != model.task:
        # The loaded model describes itself by the task it runs as.
        model = model.model_copy(update={"task": task})
    loaded: Model = cls.from_package(model, package, folder, options, backend)
    return loaded


def _load_listing(
    name: str,
    listing: ModelListing,
    resolution: Resolution,
    options: DetectionOptions,
    backend: BackendOptions,
    task: str | None = None,
) -> tuple[Model, PackageMetadata]:
    if not resolution.candidates:
        lines = "\n  ".join(str(r) for r in resolution.refused)
        if len(resolution.refused) == 1:
            raise ModelResolutionError(f"model '{name}' ({listing.model.task}) cannot run here: package {lines}")
        raise ModelResolutionError(f"model '{name}': no package can run here; refused:\n  {lines}")
    failures: list[tuple[str, VigilError]] = []
    for candidate in resolution.candidates:
        package = candidate.package
        try:
            folder = listing.fetch(package)
            model = _instantiate(listing.model, package, folder, options, backend, task)
        except VigilError as exc:
            log.warning("model '%s': package '%s' failed to load: %s", name, package.package_id, exc)
            failures.append((package.package_id, exc))
            continue
        log.info(
            "model '%s': loaded package '%s' (%s, batch %s)",
            name,
            package.package_id,
            package.backend.value,
            package.batch.describe(),
        )
        return model, package
    if len(failures) == 1 and not resolution.refused:
        raise failures[0][1]
    report = [f"{pid}: failed to load: {exc}" for pid, exc in failures] + [str(r) for r in resolution.refused]
    raise ModelLoadError(f"model '{name}': no package could be loaded:\n  " + "\n  ".join(report))
