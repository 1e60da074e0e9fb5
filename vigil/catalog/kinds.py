"""The declarations of the catalog (`vigil.catalog`): a kind and the facts it carries."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

__all__ = ["Extra", "Kind", "SecretFile", "SinkKind", "SourceKind", "StageKind", "load_object"]


def load_object(reference: str | Any) -> Any:
    """The object a `"module:attribute"` string names (imported now), or `reference` itself."""
    if not isinstance(reference, str):
        return reference
    module, _, attribute = reference.partition(":")
    found = importlib.import_module(module)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


@dataclass(frozen=True)
class Extra:
    """An optional dependency a kind needs: the pip extra that installs it, a module whose
    presence tells it is installed (looked up without importing it), the `package` in words
    and, when plain `pip install` is not enough, the `install` command to give instead."""

    name: str
    module: str
    package: str = ""
    install: str = ""

    @property
    def hint(self) -> str:
        return self.install or f"pip install 'vigil-analytics[{self.name}]'"

    def missing(self, what: str) -> str:
        """The message for `what` ("the mqtt sink") when this extra is not installed."""
        return f"{what} needs {self.package or self.module}: {self.hint}"


@dataclass(frozen=True)
class SecretFile:
    """A config key that names a file vigil reads at load (a password, a token, certificates):
    `holds` says what the file holds, for messages; `read` how it is checked: `bytes` any
    non-empty contents, `text` UTF-8 text, `token` a bearer token (16+ visible characters)."""

    key: str
    holds: str
    read: Literal["bytes", "text", "token"] = "bytes"


@dataclass(frozen=True)
class Kind:
    """One kind: its `name` (what `kind:` says in the YAML), its `config` class, its `factory`,
    the `extras` it needs, its `secret_files` keys, and `origin`: the distribution that declared
    it (set by the catalog: `vigil` for the built-in ones, None for one declared at run time)."""

    name: str
    config: str | type[BaseModel]
    factory: str | Callable[..., Any]
    extras: tuple[Extra, ...] = ()
    secret_files: tuple[SecretFile, ...] = ()
    origin: str | None = None

    def load_config(self) -> type[BaseModel]:
        config: type[BaseModel] = load_object(self.config)
        return config

    def load_factory(self) -> Callable[..., Any]:
        factory: Callable[..., Any] = load_object(self.factory)
        return factory

    def missing_extras(self) -> list[Extra]:
        """The extras of this kind whose module is not installed (found without importing it)."""
        return [extra for extra in self.extras if importlib.util.find_spec(extra.module) is None]


@dataclass(frozen=True)
class SourceKind(Kind):
    """A `sources:` kind. `url_prefixes`: URLs starting so (case-insensitive) are of this kind
    when an entry gives no `kind` (the first kind declared without prefixes takes the rest).
    `unchecked`: what `vigil check` cannot know about such a source without opening it.
    Its factory is called as `factory(config, context)` (`vigil.sources.kinds.SourceContext`)."""

    url_prefixes: tuple[str, ...] = ()
    unchecked: str | None = None


@dataclass(frozen=True)
class SinkKind(Kind):
    """A `sinks:` kind. `takes_events`: it can be given `records: [events]`; `event_pictures`:
    with events, it writes each event's pictures under its `directory`, which the event log
    serves. `reaches`: what it connects to ("receiver", "broker"), which `vigil check` names as
    not checked. Its factory is called as `factory(entry, context)` (`vigil.sinks.registry`)."""

    takes_events: bool = False
    event_pictures: bool = False
    reaches: str | None = None


@dataclass(frozen=True)
class StageKind(Kind):
    """A stage kind. `place`: where a stage of this kind that a source's own sections imply
    (tracking:, cascades:, zones:, lines:, clips:) goes: such stages run as one block in
    ascending `place`, the one with the lowest (tracking) first in the camera's chain, or
    where the source lists that kind in its `stages:`; None: only ever listed. `listed`:
    whether `stages:` may name it. Its factory is called as `factory(config, context)`."""

    place: int | None = None
    listed: bool = True
