"""From a reference to a loaded model: provider -> resolver -> fetch -> model class, in rank order."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from vigil.catalog import CATALOG, load_object
from vigil.engine._private import resolution_cache
from vigil.engine._private.environment import RuntimeEnvironment, current_environment
from vigil.engine._private.package_format import ModelMetadata, PackageMetadata, safe_member_path
from vigil.engine._private.providers import ModelListing, get_provider, parse_reference, verified_package_dir
from vigil.engine._private.resolver import Refused, Resolution, ResolutionRequest, resolve
from vigil.engine.base import Model
from vigil.engine.options import BackendOptions, DetectionOptions
from vigil.errors import MissingDependencyError, ModelLoadError, ModelNotFoundError, ModelResolutionError, VigilError

log = logging.getLogger(__name__)


def implementations() -> list[tuple[str, str, str]]:
    """Every (architecture, task, backend) some declared backend runs (`BackendKind.models`)."""
    return [(arch, task, kind.name) for kind in CATALOG.backends.declared() for arch, task, _ in kind.models]


def implementation(architecture: str, task: str, backend: str) -> Any:
    """The class backend `backend` runs (architecture, task) with, imported now (KeyError: none)."""
    target = CATALOG.backends.get(backend).runs(architecture, task)
    if target is None:
        raise KeyError((architecture, task, backend))
    return load_object(target)


def load_package(
    model: ModelMetadata, package: PackageMetadata, folder: Path, options: DetectionOptions, backend: BackendOptions
) -> Model:
    """The loader of vigil's own backends (their `factory` in the catalog): the class the
    package's backend declares for the model's (architecture, task), from the package's files."""
    loaded: Model = implementation(model.architecture, model.task, package.backend).from_package(
        model, package, folder, options, backend
    )
    return loaded


def check_task(model: ModelMetadata, task: str | None) -> None:
    """Refuse a task override (`AutoModel.from_pretrained(task=...)`: run this package as another
    task, e.g. PP-OCR's text detector alone as "detect") that vigil has no implementation of."""
    if task is None or task == model.task:
        return
    tasks = sorted({t for arch, t, _ in implementations() if arch == model.architecture})
    if task not in tasks:
        raise ModelLoadError(
            f"model '{model.model_id}' ({model.architecture}, task '{model.task}') cannot be loaded as task "
            f"'{task}': vigil runs '{model.architecture}' models as {', '.join(repr(t) for t in tasks) or 'nothing'}; "
            "pick one of those or drop the task option"
        )


def own_code_class(model: ModelMetadata, package: PackageMetadata, folder: Path, task: str | None = None) -> Any:
    """The class a package that brings its own code (`entrypoint`, untrusted, already allowed by
    the resolver) names, imported from its folder."""
    assert package.entrypoint is not None
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
        key = (model.architecture, task, str(candidate.package.backend))
        own_code = candidate.package.entrypoint is not None
        if (key in implementations() and not own_code) or (own_code and task == model.task):
            runnable.append(candidate)
        elif own_code:
            refused.append(Refused(candidate.package.package_id, (f"it runs its own code as task '{model.task}', not '{task}'",)))
        else:
            refused.append(
                Refused(
                    candidate.package.package_id,
                    (
                        f"vigil has no '{task}' implementation of '{model.architecture}' on backend "
                        f"'{key[2]}' yet (it runs: {', '.join('/'.join(k) for k in implementations())})",
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
    """Load `package` with its own code, or with the loader its backend declares in the catalog."""
    if package.entrypoint is not None:
        loaded: Model = own_code_class(model, package, folder, task).from_package(model, package, folder, options, backend)
        return loaded
    check_task(model, task)
    if task is not None and task != model.task:
        # The loaded model describes itself by the task it runs as.
        model = model.model_copy(update={"task": task})
    kind = CATALOG.backends.get(package.backend)
    try:
        loader = kind.load_factory()
    except ImportError as exc:
        missing = kind.missing_extras()
        hint = missing[0].missing(f"the {package.backend} backend") if missing else f"reinstall its plugin ({exc})"
        raise MissingDependencyError(f"package '{package.package_id}': {hint}") from exc
    loaded = loader(model, package, folder, options, backend)
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
            package.backend,
            package.batch.describe(),
        )
        return model, package
    if len(failures) == 1 and not resolution.refused:
        raise failures[0][1]
    report = [f"{pid}: failed to load: {exc}" for pid, exc in failures] + [str(r) for r in resolution.refused]
    raise ModelLoadError(f"model '{name}': no package could be loaded:\n  " + "\n  ".join(report))
