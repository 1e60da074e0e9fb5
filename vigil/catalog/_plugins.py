"""Kinds from other distributions: the `vigil.kinds` entry point group.

One group for every section: a plugin often brings a sink and the stage that feeds it together,
and the catalog files each declaration by its type. An entry point names either a list of
declarations (`SinkKind(...)`, `StageKind(...)`, `SourceKind(...)`, `BackendKind(...)`, and event
types, `EventTypeKind(...)`) or a function called with the catalog that declares them
(`catalog.sinks.register(...)`, `catalog.event_types.register(...)`, `catalog.add(...)`):

    [project.entry-points."vigil.kinds"]
    echo = "vigil_echo:KINDS"

A plugin that fails (its import raises, it declares a name already taken, its object is neither)
is logged and recorded in `Catalog.failures` with its distribution's name, what it declared is
undone, and vigil goes on without it: a config naming its kind is refused as unknown, naming the
failed plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from vigil.catalog.kinds import EventTypeKind, Kind

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["PluginFailure", "load_plugins"]

log = logging.getLogger(__name__)


class _Catalog(Protocol):  # vigil.catalog.Catalog, as a plugin loader sees it
    failures: list[PluginFailure]
    loading_origin: str | None

    def add(self, *kinds: Kind | EventTypeKind, replace: bool = False) -> None: ...
    def snapshot(self) -> Any: ...
    def restore(self, snapshot: Any) -> list[str]: ...


@dataclass(frozen=True)
class PluginFailure:
    """An entry point of the `vigil.kinds` group that could not add its kinds."""

    distribution: str
    entry_point: str
    reason: str

    def __str__(self) -> str:
        return f"plugin '{self.entry_point}' of distribution '{self.distribution}' was not loaded: {self.reason}"


def load_plugins(catalog: _Catalog, group: str) -> None:
    """Declare the kinds of every entry point of `group`, each on its own (one failing plugin
    leaves the others and the built-in kinds in place)."""
    from importlib.metadata import entry_points  # read the installed distributions now, not at import

    for point in entry_points(group=group):
        distribution = _distribution(point)
        snapshot = catalog.snapshot()
        catalog.loading_origin = distribution
        try:
            _declare(catalog, point)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not take vigil down
            undone = catalog.restore(snapshot)
            reason = f"{type(exc).__name__}: {exc}"
            failure = PluginFailure(distribution, f"{point.name} = {point.value}", reason)
            catalog.failures.append(failure)
            kinds = f" (kinds left out: {', '.join(undone)})" if undone else ""
            log.error("%s%s; fix or uninstall the distribution '%s'", failure, kinds, distribution)
        finally:
            catalog.loading_origin = None


def _declare(catalog: _Catalog, point: EntryPoint) -> None:
    target = point.load()
    if isinstance(target, (Kind, EventTypeKind)):
        catalog.add(target)
    elif callable(target):
        target(catalog)
    elif isinstance(target, Iterable) and not isinstance(target, (str, bytes)):
        catalog.add(*target)
    else:
        raise TypeError(f"{point.value} is a {type(target).__name__}; name a list of kinds or a function taking the catalog")


def _distribution(point: EntryPoint) -> str:
    dist = point.dist
    if dist is None:
        return f"(unknown, module {point.module})"
    return f"{dist.metadata['Name']} {dist.version}"
