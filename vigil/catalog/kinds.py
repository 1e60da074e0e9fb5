"""The declarations of the catalog (`vigil.catalog`): a kind and the facts it carries, and an
event type (`EventTypeKind`) with its record's fields and the metrics that count it."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

__all__ = [
    "BackendKind",
    "EVENTS_METRIC",
    "EVENT_LABELS",
    "ZONE_OBJECTS_METRIC",
    "BuildStep",
    "EventField",
    "EventTypeKind",
    "Extra",
    "Kind",
    "NoSettings",
    "Occupancy",
    "SecretFile",
    "SinkKind",
    "SourceKind",
    "StageKind",
    "load_object",
]


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


class NoSettings(BaseModel):
    """The config class of a kind that has no settings of its own (a model backend without a
    section under `model:`)."""


_DEVICE_WORDS = {"cpu": "the CPU", "gpu": "a GPU", "npu": "an NPU"}


@dataclass(frozen=True)
class BuildStep:
    """What runs on the box before a backend's packages can load: it makes a package of the
    backend for this very machine from another package of the model directory (a TensorRT
    engine built for this GPU from the ONNX package). The daemon runs it at start
    (`vigil.daemon.engine_build`) when the configuration asks for it, the backend is installed
    and can run here (its `devices`), and no package of the backend fits the model directory yet.

    `run`: "module:function" (or the function), called on a thread as `run(job)` with a
    `vigil.engine.backends.BuildJob`; it writes the package into `job.model_dir` and returns
    its package id. `what`: what it makes, in words ("TensorRT engine"), for the log and
    systemd's STATUS. `settings`: the key under `model:` of the backend's settings section
    (`tensorrt`), handed to `run` as `job.settings` (None: the backend has none). `switch`: the
    key of that section whose value `auto` asks for the step (`build_engine`); None: the step
    runs whenever it is needed."""

    run: str | Callable[..., Any]
    what: str
    settings: str | None = None
    switch: str | None = None

    def __post_init__(self) -> None:
        if self.switch is not None and self.settings is None:
            raise ValueError(f"build step '{self.what}': a switch ({self.switch!r}) sits in a settings section; name it")

    def load_run(self) -> Callable[..., Any]:
        run: Callable[..., Any] = load_object(self.run)
        return run


@dataclass(frozen=True)
class BackendKind(Kind):
    """A model backend (what `backend` says in a package.json and in `model.backend`).

    `config`: its settings section under `model:` (`NoSettings` when it has none). `factory`: its
    loader, called as `factory(model, package, folder, options, backend_options)` -> a loaded
    model (vigil's own backends use `vigil.engine.backends:load_package`, which makes the
    class `models` names). `models`: the (architecture, task, "module:Class") it runs, each class
    with a `from_package` classmethod. `label`: its name in words ("TensorRT").
    The probe: it is installed when one of `distributions` is (its version is the first found)
    and every backend it `requires` is (hf runs on torch); `extras` give the install hint, or
    `unavailable` when set. `devices`: where it runs ("cpu", "gpu", "npu"). `rank`: its place in
    the resolver's default order (lower first), `rank_why` the reason in one line. `files`: the
    suffixes of the file that holds a package's model. `build_step`: how its packages are made on
    the box from another package (a TensorRT engine from an ONNX one), a `BuildStep`. `checks`: "module:attribute"
    of the resolver filters only packages of this backend go through (ONNX opsets, TensorRT
    versions), each `check(package, request, env) -> reason | None`."""

    label: str = ""
    models: tuple[tuple[str, str, str], ...] = ()
    distributions: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    unavailable: str = ""
    devices: tuple[str, ...] = ("cpu",)
    rank: int = 100
    rank_why: str = ""
    files: tuple[str, ...] = ()
    build_step: BuildStep | None = None
    checks: tuple[str | Callable[..., str | None], ...] = ()

    @property
    def title(self) -> str:
        return self.label or self.name

    def install_hint(self) -> str:
        """What to run to install it, for the resolver's refusal."""
        if self.unavailable:
            return self.unavailable
        return self.extras[0].hint if self.extras else f"install the runtime of the '{self.name}' backend"

    def runs(self, architecture: str, task: str) -> str | None:
        """The "module:Class" that runs (architecture, task) on this backend, or None."""
        return next((ref for arch, t, ref in self.models if (arch, t) == (architecture, task)), None)

    def devices_in_words(self) -> str:
        return " or ".join(_DEVICE_WORDS.get(device, device) for device in self.devices)

    def load_checks(self) -> list[Callable[..., str | None]]:
        return [load_object(check) for check in self.checks]


# What an event does to a zone's occupancy count: `enter` counts its object in the zone its `area`
# field names, `exit` takes it out of that zone, `end` out of every zone of its source.
Occupancy = Literal["enter", "exit", "end"]
# The Prometheus counters of events (`vigil.daemon.metrics`): every event counts in EVENTS_METRIC,
# labelled source, type and EVENT_LABELS (each filled from the field its type names, else empty);
# an event whose type has an `occupancy` moves ZONE_OBJECTS_METRIC{source, zone, class_name}.
EVENTS_METRIC = "vigil_events"
ZONE_OBJECTS_METRIC = "vigil_zone_objects"
EVENT_LABELS = ("area", "direction")


@dataclass(frozen=True, slots=True)
class EventField:
    """A field an event type's record carries: its JSON key, JSON type and meaning."""

    name: str
    type: str  # as docs/OUTPUT.md writes it: string, number, "`in` / `out`", ISO 8601 UTC, object
    meaning: str


@dataclass(frozen=True)
class EventTypeKind:
    """An event type: what an `Event`'s `type` says. `when`: what makes it (one line); `at`: the
    frame whose `seq` and `capture_time` it carries; `fields`: what its record carries beyond the
    common keys (docs/OUTPUT.md, "Events"); `rule`: the rule (`vigil.stages.rules`) that makes it;
    `order`: where it sorts among the events of one frame at the same capture time (object_start
    first, object_end last); `occupancy`: what it does to a zone's count (`Occupancy`).

    The metrics that count it: every event in `vigil_events`, whose `area` label is the value of
    the field `area` names (a zone, a line: a configured name, never free text, so the series stay
    bounded) and whose `direction` label that of the field `direction` names; a type with an
    `occupancy` of `enter` or `exit` counts in `vigil_zone_objects` the zone its `area` field
    names (as MQTT discovery's zone sensors do). `origin`: as a `Kind`'s."""

    name: str
    when: str
    at: str
    fields: tuple[EventField, ...] = ()
    rule: str = ""
    order: int = 45
    occupancy: Occupancy | None = None
    area: str | None = None
    direction: str | None = None
    origin: str | None = None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def labels(self, value_of: Callable[[str], Any]) -> tuple[str, str]:
        """The (area, direction) labels of `vigil_events` for an event of this type, whose
        record's field `name` is `value_of(name)`."""
        return _label(value_of, self.area), _label(value_of, self.direction)

    def metrics(self) -> tuple[str, ...]:
        """The metrics that count its events, with the labels it fills (docs/OUTPUT.md's table)."""
        labels = ", ".join(f"{label}: `{name}`" for label, name in zip(EVENT_LABELS, (self.area, self.direction)) if name)
        counted = [f"`{EVENTS_METRIC}`" + (f" ({labels})" if labels else "")]
        if self.occupancy is not None:
            counted.append(f"`{ZONE_OBJECTS_METRIC}` ({self.occupancy})")
        return tuple(counted)


def _label(value_of: Callable[[str], Any], name: str | None) -> str:
    value = value_of(name) if name else None
    return "" if value is None else str(value)
