"""`vigil check CONFIG`: what can be known about a configuration without starting anything.

It validates the file, reads every file it refers to (`vigil.config.files`) and lists the model
(a local model directory's `model.json` and `package.json` files, or a bare ONNX export's
metadata), then reports every problem at once, each with its key and line, and says where each
durable sink (webhook, MQTT, NATS) keeps its spool. It connects to nothing and writes nothing:
cameras, video files, a model URL and output directories are named in its answer as not checked.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

from vigil.config.daemon import DaemonConfig
from vigil.config.files import Problem, file_problems, read_secret
from vigil.config.sinks import DeliverySettings, spool_directory
from vigil.config.loader import read_config
from vigil.config.model import ModelConfig
from vigil.errors import VigilError
from vigil.sources.rtsp import mask_url

__all__ = ["check_config"]

def check_config(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """The summary of a usable configuration; `ConfigError` listing every problem otherwise.
    `environ` (default: the process's) places the spools that have no `spool_dir`."""
    loaded = read_config(path)
    config = loaded.config
    entries = config.model_entries()
    model_problems: list[Problem] = []
    model_lines, unchecked = [], []
    for name, entry in entries.items():
        # A `model:` file is `models: {default: ...}` inside: its problems point at `model:`.
        where: tuple[str, ...] = ("model",) if list(entries) == ["default"] else ("models", name)
        found, line, missed = _check_model(entry, where)
        model_problems += found
        model_lines.append(line if len(entries) == 1 else f"{name}: {line}")
        unchecked += [m for m in missed if m not in unchecked]
    search_problems, search_lines = _check_search(config)
    problems = model_problems + search_problems + file_problems(config) + _tracking_problems(config)
    problems += _signing_problems(config)
    if problems:
        raise loaded.error(problems)
    sinks = [entry.name if entry.name == entry.kind else f"{entry.name} ({entry.kind})" for entry in config.sinks]
    return "\n".join(
        [
            f"{path}: OK ({len(config.sources)} source(s); sinks: {', '.join(sinks)})",
            *(f"  model: {line}" for line in model_lines),
            *(f"  search: {line}" for line in search_lines),
            *_spool_lines(config, os.environ if environ is None else environ),
            f"  not checked: {', '.join(unchecked + _unchecked_parts(config))}",
        ]
    )


def _check_model(model: ModelConfig, where: tuple[str, ...] = ("model",)) -> tuple[list[Problem], str, list[str]]:
    """Problems with the model reference, a line describing it, and what could not be checked."""
    # The engine's own listing code: a model directory's JSON files, or an ONNX export's metadata
    # (onnxruntime opens it unoptimised, a tenth of a second). No package is fetched or loaded.
    from vigil.engine.developer_tools import get_provider, list_model, parse_reference

    reference = parse_reference(model.path)
    if reference.provider == "http":
        return [], f"{model.path} (not fetched)", ["the model URL (check works offline)"]
    try:
        if reference.provider != "local":
            get_provider(reference.provider)  # an unknown provider is an error; a known one is not asked
            return [], f"{model.path} (not fetched)", [f"the model from provider '{reference.provider}'"]
        _, listing = list_model(model.path)
    except VigilError as exc:
        return [Problem((*where, "path"), str(exc))], "", []
    ids = [package.package_id for package in listing.packages]
    if model.package_id is not None and model.package_id not in ids:
        problem = f"the model has no package '{model.package_id}' (it has: {', '.join(ids)})"
        return [Problem((*where, "package_id"), problem)], "", []
    described = f"{listing.model.model_id} ({listing.model.task}; package(s): {', '.join(ids)})"
    return [], described, ["package files' checksums (verified at start)"]


_SEARCH_MODELS = (("model", "embed", "an embedding model such as a CLIP hf package"),
                  ("describe", "vlm", "a vision-language model such as a BLIP hf package"))


def _check_search(config: DaemonConfig) -> tuple[list[Problem], list[str]]:
    """Problems with `search.model` and `search.describe` (each listed like the models, and of
    the kind it must be), and a line for each."""
    if config.search is None:
        return [], []
    from vigil.engine.developer_tools import list_model, parse_reference

    problems, lines = [], []
    for key, task, wanted in _SEARCH_MODELS:
        ref = getattr(config.search, key)
        if ref is None:
            continue
        if parse_reference(ref).provider != "local":
            lines.append(f"{key}: {mask_url(ref)} (not fetched)")
            continue
        try:
            _, listing = list_model(ref)
        except VigilError as exc:
            problems.append(Problem(("search", key), str(exc)))
            continue
        if listing.model.task != task:
            problems.append(Problem(("search", key), f"{listing.model.model_id} is a {listing.model.task} model; give {wanted}"))
            continue
        lines.append(f"{key}: {listing.model.model_id} ({task})")
    return problems, lines


def _tracking_problems(config: DaemonConfig) -> list[Problem]:
    """Each source that would be tracked while the `tracking` extra is missing (found without
    importing it)."""
    if importlib.util.find_spec("trackers") is not None:
        return []
    from vigil.stages.tracking import MISSING_TRACKERS

    problems = []
    for i, source in enumerate(config.sources):
        stages = [("stages", j) for j, spec in enumerate(source.stages) if spec.kind == "tracking"]
        keys = [key for key in ("tracking", "zones", "lines") if getattr(source, key, None)]
        where = stages[0] if stages else keys[:1]
        if where:
            problems.append(Problem(("sources", i, *where), MISSING_TRACKERS))
    return problems


def _spool_lines(config: DaemonConfig, environ: Mapping[str, str]) -> list[str]:
    """Where each durable sink keeps its spool (a default one is named after the sink)."""
    lines: list[str] = []
    for entry in config.sinks:
        if isinstance(entry, DeliverySettings):
            assert entry.name is not None  # named by the loader
            given = "" if entry.spool_dir else " (default: the state directory)"
            lines.append(f"  spool of sink '{entry.name}': {spool_directory(entry, entry.name, environ)}{given}")
    return lines


def _signing_problems(config: DaemonConfig) -> list[Problem]:
    """A webhook with `signing: standard` whose secret file is not a `whsec_` secret."""
    from vigil.errors import ConfigError
    from vigil.sinks.webhook import standard_key

    problems = []
    for i, entry in enumerate(config.sinks):
        path = getattr(entry, "secret_file", None)
        if getattr(entry, "signing", None) != "standard" or path is None:
            continue
        try:
            secret = read_secret(path)
        except ConfigError:
            continue  # file_problems says why
        try:
            standard_key(secret, path)
        except ConfigError as exc:
            problems.append(Problem(("sinks", i, "secret_file"), str(exc)))
    return problems


def _unchecked_parts(config: DaemonConfig) -> list[str]:
    urls = [source.url for source in config.sources]
    parts = []
    if any(url.startswith(("rtsp://", "rtsps://")) for url in urls):
        parts.append("camera reachability")
    if any(url.startswith("v4l2:") for url in urls):
        parts.append("webcams")
    if any(not url.startswith(("rtsp://", "rtsps://", "v4l2:")) for url in urls):
        parts.append("video files (opened at start)")
    parts += [f"the {entry.kind} receiver of sink '{entry.name}'" for entry in config.sinks if hasattr(entry, "url")]
    parts += [f"the {entry.kind} broker of sink '{entry.name}'" for entry in config.sinks if entry.kind in ("mqtt", "nats")]
    parts.append("output paths (created at start)")  # a configuration always has a sink
    return parts
