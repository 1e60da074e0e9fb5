"""The catalog of kinds: every source, sink, stage, model backend and event type vigil knows, each declared once.

A kind is a name, its config class, a factory that makes it, and the facts the rest of vigil
needs about it (the extras it needs, whether a sink takes events, its secret-file keys, where a
stage sits in a camera's chain, how the resolver ranks a backend, what runs on the box before a
backend's packages can load). An event type (`EventTypeKind`, the section `event_types`) is
declared the same way with its record's fields and the metrics that count it. The YAML schema,
`vigil check`, assembly, the loader's file checks, the event log, the model resolver and loader,
the daemon's build steps, the metrics, MQTT discovery and the OpenAPI document read them here;
nothing else keeps a list of kinds.

    from vigil.catalog import CATALOG
    CATALOG.sinks.get("mqtt").takes_events          # True
    CATALOG.sinks.make("jsonl", entry, context)     # imports vigil.sinks.jsonl now, not before

The built-in kinds are declared in `vigil.catalog.builtin` (the one list to edit for a new kind
inside vigil); other distributions add kinds through the `vigil.kinds` entry point group
(`vigil.catalog._plugins`). Both are read the first time the catalog is, never at import.
Config classes and factories are given as `"module:attribute"` strings or as objects: a config
class is imported when the catalog is first read (`Kind.config` is then the class), a factory
only when a part of its kind is made, so a kind that is never configured never imports its
dependencies.

This module sits at the bottom of the house: it imports the standard library, pydantic and
`vigil.errors` only.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from vigil.catalog._plugins import PluginFailure, load_plugins
from vigil.catalog.event_types import EventTypeRegistry, markdown_table
from vigil.catalog.kinds import (
    EVENT_LABELS,
    EVENTS_METRIC,
    ZONE_OBJECTS_METRIC,
    BackendKind,
    BuildStep,
    EventField,
    EventTypeKind,
    Extra,
    Kind,
    NoSettings,
    Occupancy,
    SecretFile,
    SinkKind,
    SourceKind,
    StageKind,
    load_object,
)
from vigil.errors import ConfigError, MissingDependencyError

__all__ = [
    "CATALOG",
    "EVENTS_METRIC",
    "EVENT_LABELS",
    "ZONE_OBJECTS_METRIC",
    "BackendKind",
    "BuildStep",
    "Catalog",
    "EventField",
    "EventTypeKind",
    "EventTypeRegistry",
    "Extra",
    "Kind",
    "NoSettings",
    "Occupancy",
    "PluginFailure",
    "Registry",
    "SecretFile",
    "SinkKind",
    "SourceKind",
    "StageKind",
    "load_object",
    "markdown_table",
]


K = TypeVar("K", bound=Kind)


class Registry(Generic[K]):
    """The kinds of one section (`what`: "source", "sink", "stage", "backend"), in declaration order.
    Reading it loads the catalog's built-in and plugin kinds first (once)."""

    def __init__(self, catalog: Catalog, what: str, kind_type: type[K]) -> None:
        self._catalog = catalog
        self.what = what
        self.kind_type = kind_type
        self._kinds: dict[str, K] = {}
        self.version = 0  # bumped on every change, for caches built from the registry

    def register(
        self,
        name: str | K,
        config: str | type[BaseModel] | None = None,
        factory: str | Callable[..., Any] | None = None,
        *,
        replace: bool = False,
        **facts: Any,
    ) -> K:
        """Add a kind: a declaration, or its name, config class, factory and facts."""
        self._catalog.load()
        if isinstance(name, Kind):
            kind = name
        else:
            if config is None or factory is None:
                raise ValueError(f"{self.what} kind '{name}': give its config class and factory")
            kind = self.kind_type(name, config, factory, **facts)
        if not isinstance(kind, self.kind_type):
            raise ValueError(f"{kind.name!r} is a {type(kind).__name__}, not a {self.kind_type.__name__}")
        return self._add(kind, replace=replace)

    def _add(self, kind: K, *, replace: bool = False) -> K:
        if not kind.name.isidentifier():
            raise ValueError(f"{self.what} kind {kind.name!r}: use letters, digits and '_'")
        known = self._kinds.get(kind.name)
        if known is not None and not replace:
            raise ValueError(
                f"{self.what} kind '{kind.name}' is already declared (by {known.origin or 'a call'}); pass "
                "replace=True to override it"
            )
        for reference in (kind.config, kind.factory):
            if isinstance(reference, str) and ":" not in reference:
                raise ValueError(f"{self.what} kind '{kind.name}': {reference!r} must be 'module:attribute' or an object")
        origin = self._catalog.loading_origin
        if origin is not None and kind.origin is None:
            kind = dataclasses.replace(kind, origin=origin)
        config = kind.load_config()  # config classes are light: imported when the catalog is first read
        if not (isinstance(config, type) and issubclass(config, BaseModel)):
            raise ValueError(f"{self.what} kind '{kind.name}': its config {config!r} is not a pydantic model class")
        kind = dataclasses.replace(kind, config=config)
        self._kinds[kind.name] = kind
        self.version += 1
        return kind

    def unregister(self, name: str) -> None:
        if self._kinds.pop(name, None) is not None:
            self.version += 1

    def get(self, name: str) -> K:
        self._catalog.load()
        try:
            return self._kinds[name]
        except KeyError:
            raise ConfigError(self.unknown(name)) from None

    def unknown(self, name: object) -> str:
        """The message for a kind that is not declared: the known ones, and failed plugins."""
        failures = "".join(f"; {failure}" for failure in self._catalog.failures)
        return f"unknown {self.what} kind {name!r} (known: {', '.join(self.names()) or 'none'}){failures}"

    def kinds(self) -> list[K]:
        """The kinds a configuration may name (a stage kind with `listed=False` is left out)."""
        return [kind for kind in self.declared() if getattr(kind, "listed", True)]

    def declared(self) -> list[K]:
        """Every declared kind."""
        self._catalog.load()
        return list(self._kinds.values())

    def names(self) -> list[str]:
        return [kind.name for kind in self.kinds()]

    def __iter__(self) -> Iterator[K]:
        return iter(self.kinds())

    def __contains__(self, name: object) -> bool:
        self._catalog.load()
        return name in self._kinds

    def make(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Build a part of kind `name` with its factory; a missing extra of the kind is a
        `MissingDependencyError` naming it."""
        kind = self.get(name)
        try:
            factory = kind.load_factory()
        except ImportError as exc:
            missing = kind.missing_extras()
            what = f"the {name} {self.what}"
            message = missing[0].missing(what) if missing else f"{what} cannot be imported ({exc}); reinstall vigil"
            raise MissingDependencyError(message) from exc
        return factory(*args, **kwargs)


@dataclass
class Catalog:
    """The four sections of kinds, and the event types. Built-in kinds come from `builtins`
    ("module:attribute" of a list of declarations), plugins from the entry points of `group`;
    both on first read."""

    builtins: str = "vigil.catalog.builtin:KINDS"
    group: str | None = "vigil.kinds"
    failures: list[PluginFailure] = field(default_factory=list)
    loading_origin: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.sources: Registry[SourceKind] = Registry(self, "source", SourceKind)
        self.sinks: Registry[SinkKind] = Registry(self, "sink", SinkKind)
        self.stages: Registry[StageKind] = Registry(self, "stage", StageKind)
        self.backends: Registry[BackendKind] = Registry(self, "backend", BackendKind)
        self.event_types = EventTypeRegistry(self)
        self._lock = threading.RLock()
        self._loaded = False
        self._loading = False

    def load(self) -> None:
        """Declare the built-in kinds, then the plugins' (once; later calls return at once, and a
        call from another thread while they are declared waits for them)."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded or self._loading:  # loading: a plugin reading the catalog must not recurse
                return
            self._loading = True
            try:
                self.loading_origin = "vigil"
                try:
                    self.add(*load_object(self.builtins))
                finally:
                    self.loading_origin = None
                if self.group is not None:
                    load_plugins(self, self.group)
            finally:
                self._loading, self._loaded = False, True

    def add(self, *kinds: Kind | EventTypeKind, replace: bool = False) -> None:
        """Declare kinds (and event types), each into its section by its type."""
        for kind in kinds:
            if isinstance(kind, EventTypeKind):
                self.event_types._add(kind, replace=replace)
            else:
                self.section_of(kind)._add(kind, replace=replace)

    def sections(self) -> tuple[Registry[Any], ...]:
        return (self.sources, self.sinks, self.stages, self.backends)

    def section_of(self, kind: Kind) -> Registry[Any]:
        for section in self.sections():
            if isinstance(kind, section.kind_type):
                return section
        raise ValueError(f"{kind!r} is not a SourceKind, SinkKind, StageKind or BackendKind")

    def all_kinds(self) -> Iterable[Kind]:
        return [kind for section in self.sections() for kind in section.declared()]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The declared kinds and event types now, by section (to undo a plugin that failed half way)."""
        self.load()
        sections: tuple[Registry[Any] | EventTypeRegistry, ...] = (*self.sections(), self.event_types)
        return {s.what: dict(s._kinds) for s in sections}

    def restore(self, snapshot: dict[str, dict[str, Any]]) -> list[str]:
        """Back to `snapshot`: the names of the kinds that were added or changed since."""
        undone = []
        sections: tuple[Registry[Any] | EventTypeRegistry, ...] = (*self.sections(), self.event_types)
        for section in sections:
            before = snapshot[section.what]
            changed = [name for name, kind in section._kinds.items() if before.get(name) is not kind]
            if changed or len(before) != len(section._kinds):
                section._kinds = dict(before)  # the section's own kinds
                section.version += 1
            undone += changed
        return undone


CATALOG = Catalog()
