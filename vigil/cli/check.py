"""`vigil check CONFIG`: what can be known about a configuration without starting anything.

It validates the file, reads every file it refers to (`vigil.config.files`) and lists the model
(a local model directory's `model.json` and `package.json` files, or a bare ONNX export's
metadata), then reports every problem at once, each with its key and line, and says where each
durable sink (webhook, MQTT, NATS) keeps its spool, and which decoder each source gets and why
(the daemon's own choice, made the same way: `auto` looks for a hardware decoder on this machine;
`--decoders` prints only those lines). It connects to nothing and writes nothing: cameras, video
files, a model URL and output directories are named in its answer as not checked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vigil.catalog import CATALOG, Registry
from vigil.config.daemon import DaemonConfig
from vigil.config.files import Problem, file_problems, read_secret
from vigil.config.loader import read_config
from vigil.config.model import ModelConfig
from vigil.config.sinks import DeliverySettings, spool_directory
from vigil.errors import VigilError
from vigil.redact import mask_url

__all__ = ["check_config"]


def check_config(path: Path, environ: Mapping[str, str] | None = None, *, decoders_only: bool = False) -> str:
    """The summary of a usable configuration; `ConfigError` listing every problem otherwise.
    `environ` (default: the process's) places the spools that have no `spool_dir`;
    `decoders_only`: the summary is each source's decoder line alone."""
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
    problems = model_problems + search_problems + file_problems(config) + _extra_problems(config)
    problems += _signing_problems(config)
    decoder_problems, decoder_lines = _decoders(config) if not problems else ([], [])
    problems += decoder_problems
    if problems:
        raise loaded.error(problems)
    if decoders_only:
        return "\n".join(line.strip() for line in decoder_lines)
    sinks = [entry.name if entry.name == entry.kind else f"{entry.name} ({entry.kind})" for entry in config.sinks]
    return "\n".join(
        [
            f"{path}: OK ({len(config.sources)} source(s); sinks: {', '.join(sinks)})",
            *(f"  model: {line}" for line in model_lines),
            *(f"  search: {line}" for line in search_lines),
            *_spool_lines(config, os.environ if environ is None else environ),
            *decoder_lines,
            *_picture_lines(config),
            *(f"  {failure}" for failure in CATALOG.failures),
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


_SEARCH_MODELS = (
    ("model", "embed", "an embedding model such as a CLIP hf package"),
    ("describe", "vlm", "a vision-language model such as a BLIP hf package"),
)


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


def _extra_problems(config: DaemonConfig) -> list[Problem]:
    """Each kind in use (the sources', their stages' listed or implied, the sinks') whose extra
    is not installed (the catalog's `extras`, found without importing them)."""
    problems = []
    for i, source in enumerate(config.sources):
        used: list[tuple[str, tuple[str | int, ...], Registry[Any]]] = [(source.kind, ("kind",), CATALOG.sources)]
        used += [(spec.kind, ("stages", j), CATALOG.stages) for j, spec in enumerate(source.stages)]
        used += [(kind, (key,), CATALOG.stages) for kind, key in source.implied_stages().items()]
        problems += _missing(used, ("sources", i))
    for i, entry in enumerate(config.sinks):
        problems += _missing([(entry.kind, ("kind",), CATALOG.sinks)], ("sinks", i))
    return problems


def _missing(used: list[tuple[str, tuple[str | int, ...], Registry[Any]]], loc: tuple[str | int, ...]) -> list[Problem]:
    problems, told = [], set()
    for name, where, section in used:
        for extra in section.get(name).missing_extras():
            if extra.name not in told:  # once per entry
                told.add(extra.name)
                problems.append(Problem((*loc, *where), extra.missing(f"the {name} {section.what}")))
    return problems


def _decoders(config: DaemonConfig) -> tuple[list[Problem], list[str]]:
    """Each source's decoder and why (`vigil.sources.decode.choose`, as the daemon makes it; a
    decoder that cannot be loaded here is a problem at its `decoder` key)."""
    from vigil.sources.decode import choose

    problems, lines = [], []
    for i, source in enumerate(config.sources):
        try:
            choice = choose(source.decoder, input_kind="device" if source.kind == "webcam" else None)
        except VigilError as exc:
            problems.append(Problem(("sources", i, "decoder"), str(exc)))
            continue
        lines.append(f"  decoder of source '{source.name}': {choice.name} ({choice.reason})")
    return problems, lines


def _picture_lines(config: DaemonConfig) -> list[str]:
    """What each camera reads beyond one URL: its inputs with their roles (URLs masked), and the
    size its pictures are decoded at when not the camera's own."""
    lines: list[str] = []
    for source in config.sources:
        inputs = getattr(source, "inputs", None) or []
        if inputs:
            listed = ", ".join(f"{i} {'+'.join(item.roles)} {mask_url(item.url)}" for i, item in enumerate(inputs))
            lines.append(f"  inputs of source '{source.name}': {listed}")
        size = source.decode_size
        if size is not None:
            said = "the largest inside the model's input (model)" if isinstance(size, str) else f"{size[0]}x{size[1]}"
            lines.append(f"  decode size of source '{source.name}': {said}; boxes, zones and snapshots are in its pixels")
    return lines


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
    """What check cannot know without connecting: per source kind and per sink that reaches out
    (the catalog's `unchecked` and `reaches`)."""
    kinds = {source.kind for source in config.sources}
    parts = [kind.unchecked for kind in CATALOG.sources.kinds() if kind.name in kinds and kind.unchecked]
    for entry in config.sinks:
        reaches = CATALOG.sinks.get(entry.kind).reaches
        if reaches:
            parts.append(f"the {entry.kind} {reaches} of sink '{entry.name}'")
    parts.append("output paths (created at start)")  # a configuration always has a sink
    return parts
