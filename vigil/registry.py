"""Registries of pluggable parts: kind -> (config model, factory, imported only when used).

Sinks and stages each have one (`vigil.sinks.registry`, `vigil.stages.registry`); the YAML
schema, assembly, metrics and the CLI read them, so a new kind is one module plus one
`register` call, from inside vigil or from outside it:

    SINKS.register("mqtt", MqttSinkConfig, "vigil.sinks.mqtt:make_mqtt_sink")

A factory is given as `"module:attribute"` (imported on first use, so a kind that is never
configured never imports its dependencies) or as a callable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from vigil.errors import ConfigError

__all__ = ["Kind", "Registry"]

T = TypeVar("T")


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One registered kind: its name, its config model and how to make it."""

    name: str
    config: type[BaseModel]
    factory: str | Callable[..., T]

    def load_factory(self) -> Callable[..., T]:
        if callable(self.factory):
            return self.factory
        module, _, attribute = self.factory.partition(":")
        found: Callable[..., T] = getattr(importlib.import_module(module), attribute)
        return found


class Registry(Generic[T]):
    """Kinds of one part (`what`: "sink", "stage"), in registration order."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._kinds: dict[str, Kind[T]] = {}
        self.version = 0  # bumped on every change, for caches built from the registry

    def register(self, name: str, config: type[BaseModel], factory: str | Callable[..., T], *, replace: bool = False) -> None:
        if not name.isidentifier():
            raise ValueError(f"{self.what} kind {name!r}: use letters, digits and '_'")
        if name in self._kinds and not replace:
            raise ValueError(f"{self.what} kind '{name}' is already registered (pass replace=True to override it)")
        if isinstance(factory, str) and ":" not in factory:
            raise ValueError(f"{self.what} kind '{name}': the factory must be 'module:attribute' or a callable")
        self._kinds[name] = Kind(name, config, factory)
        self.version += 1

    def unregister(self, name: str) -> None:
        if self._kinds.pop(name, None) is not None:
            self.version += 1

    def get(self, name: str) -> Kind[T]:
        try:
            return self._kinds[name]
        except KeyError:
            known = ", ".join(self._kinds) or "none"
            raise ConfigError(f"unknown {self.what} kind '{name}' (known: {known})") from None

    def kinds(self) -> list[Kind[T]]:
        return list(self._kinds.values())

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def make(self, name: str, *args: Any, **kwargs: Any) -> T:
        """Build a part of kind `name` with its factory."""
        return self.get(name).load_factory()(*args, **kwargs)
