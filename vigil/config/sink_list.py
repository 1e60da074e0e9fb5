"""The `sinks:` list: named instances of the catalog's sink kinds.

    sinks:
      - {kind: webhook, name: alerts, url: https://hooks.example/a, spool_dir: spool/a,
         filter: {classes: [FACE_FEMALE], only_with_detections: true}}
      - {kind: webhook, name: all, url: https://hooks.example/b, spool_dir: spool/b}
      - {kind: jsonl, path: results.jsonl}          # name: jsonl (the only one of its kind)

Design. The kinds are not known when `PipelineConfig` is defined: the catalog's sink section
(`vigil.catalog.CATALOG.sinks`) may gain kinds at run time, from plugins or from outside vigil.
So an entry is validated by a plain validator that reads the catalog at validation time: it
picks the kind's entry model (the kind's config class with `kind`, `name` and `filter` added,
built once per declared kind and cached)
and validates the entry with it. pydantic nests the errors of that inner validation under the
entry's place, so a bad URL in the second entry is `sinks[1].url` and the loader finds its line.
The JSON schema of an entry is generated the same way, at schema time: a union of every
declared kind's entry model, discriminated by `kind`, so `vigil config schema` lists every
kind declared then. No model is rebuilt when the registry changes.

The old form (top-level `jsonl:`, `webhook:`, `video:`, `snapshot:` sections) still loads:
`legacy_to_list` turns each into an entry named after its kind, appended after the `sinks:`
entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, PlainValidator, ValidationError, create_model, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from vigil.catalog import CATALOG, SinkKind
from vigil.config._section import Section
from vigil.config.sinks import FilterSettings

__all__ = [
    "LEGACY_SECTIONS",
    "SinkEntries",
    "SinkEntry",
    "entry_model",
    "events_refusal",
    "legacy_positions",
    "legacy_to_list",
    "name_sinks",
]

# The top-level sink sections of configs written before `sinks:` existed (a closed list: new
# kinds only ever appear in `sinks:`).
LEGACY_SECTIONS = ("jsonl", "webhook", "video", "snapshot")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class SinkEntry(Section):
    """What every `sinks:` entry has besides its kind's own settings."""

    kind: str = Field(description="The sink kind (vigil config schema lists them).")
    name: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        description="The name sources route by (sources[].sinks) and metrics label with; defaults to the kind "
        "when the kind appears once.",
    )
    filter: FilterSettings | None = Field(
        None,
        description="What this sink publishes: classes (ids or names) and min_confidence pick detections; "
        "only_with_detections and cooldown_s drop whole results (docs/OUTPUT.md). Events are not filtered.",
    )
    records: list[Literal["results", "events"]] = Field(
        ["results"],
        min_length=1,
        max_length=2,
        description="What this sink is sent: per-frame results, the events of the sources' stages (object, zone, "
        "line events), or both, in order (docs/OUTPUT.md).",
    )

    @model_validator(mode="after")
    def _events_only_where_taken(self) -> SinkEntry:
        refusal = events_refusal(self.kind, self.records) if self.kind in CATALOG.sinks else None
        if refusal is not None:
            raise ValueError(f"records: {refusal}")
        return self


def events_refusal(kind: str, records: Sequence[str]) -> str | None:
    """Why a sink of `kind` cannot be given `records`, or None: events go only to the kinds that
    take them (the catalog's `takes_events`, which the message lists)."""
    if "events" not in records or CATALOG.sinks.get(kind).takes_events:
        return None
    takers = [k.name for k in CATALOG.sinks.kinds() if k.takes_events]
    where = ", ".join(takers[:-1]) + f" or {takers[-1]}" if len(takers) > 1 else "".join(takers) or "no"
    return f"a {kind} sink cannot take events; give it records: [results], or send the events to a {where} sink"


_MODELS: dict[tuple[str, int], type[BaseModel]] = {}


def entry_model(kind: SinkKind) -> type[BaseModel]:
    """The model of an entry of `kind`: its config class plus `kind`, `name` and `filter`."""
    key = (kind.name, id(kind))
    model = _MODELS.get(key)
    if model is None:
        config = kind.load_config()
        fields: dict[str, Any] = {"kind": (Literal[kind.name], Field(description="The sink kind."))}
        model = create_model(f"{config.__name__}Entry", __base__=(config, SinkEntry), __doc__=config.__doc__, **fields)
        _MODELS[key] = model
    return model


def _validate(value: Any) -> BaseModel:
    if isinstance(value, SinkEntry):
        return value
    if not isinstance(value, dict):
        raise ValueError("a sink entry is a mapping: {kind: KIND, name: NAME, ...settings}")
    kind = value.get("kind")
    if not isinstance(kind, str) or kind not in CATALOG.sinks:
        known = ", ".join(CATALOG.sinks.names()) + "".join(f"; {failure}" for failure in CATALOG.failures)
        message = "missing: give the sink's kind" if kind is None else "unknown sink kind"
        message = f"{message} (known: {known})"
        error = PydanticCustomError("sink_kind", "{message}", {"message": message})
        loc = ("kind",)
        raise ValidationError.from_exception_data("sink", [InitErrorDetails(type=error, loc=loc, input=kind)])
    return entry_model(CATALOG.sinks.get(kind)).model_validate(value)


class _EntryJsonSchema:
    """The JSON schema of an entry: every kind registered when the schema is generated."""

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> Any:
        choices = {kind.name: entry_model(kind).__pydantic_core_schema__ for kind in CATALOG.sinks.kinds()}
        union = core_schema.tagged_union_schema(choices, discriminator="kind")
        return handler(union)


if TYPE_CHECKING:
    SinkEntries = list[SinkEntry]
else:
    SinkEntries = list[Annotated[Any, PlainValidator(_validate), _EntryJsonSchema()]]


def legacy_to_list(data: Any) -> Any:
    """`data` with its old top-level sink sections moved into `sinks:` as entries named after
    their kind; a `sinks:` entry of the same name is an error naming both."""
    if not isinstance(data, dict) or not any(key in data for key in LEGACY_SECTIONS):
        return data
    data = dict(data)
    entries = list(data.get("sinks") or [])
    for kind in LEGACY_SECTIONS:
        section = data.pop(kind, None)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ValueError(
                f"{kind}: the old sink section must be a mapping of settings; better, write it as an "
                f"entry of sinks: [{{kind: {kind}, ...}}]"
            )
        for index, entry in enumerate(entries):
            if isinstance(entry, dict) and _entry_name(entry) == kind:
                raise ValueError(
                    f"{kind}: (the old form) and sinks[{index}] both define the sink '{kind}'; "
                    f"keep one: move the {kind} section into sinks, or rename sinks[{index}]"
                )
        entries.append({**section, "kind": kind, "name": kind})
    data["sinks"] = entries
    return data


def legacy_positions(data: Any) -> dict[int, str]:
    """Where `legacy_to_list` puts the old sections of `data`: index in `sinks` -> section name,
    so that an error in `sinks[2].url` can be told as `webhook.url`, on the line the user wrote."""
    if not isinstance(data, dict):
        return {}
    explicit = data.get("sinks")
    first = len(explicit) if isinstance(explicit, list) else 0
    present = [kind for kind in LEGACY_SECTIONS if data.get(kind) is not None]
    return {first + i: kind for i, kind in enumerate(present)}


def _entry_name(entry: dict[str, Any]) -> Any:
    return entry.get("name") or entry.get("kind")


def name_sinks(entries: Sequence[SinkEntry]) -> list[SinkEntry]:
    """The entries with their default names filled in; names must be unique."""
    kinds = [e.kind for e in entries]
    unnamed = [i for i, e in enumerate(entries) if e.name is None and kinds.count(e.kind) > 1]
    if unnamed:
        i = unnamed[0]
        others = ", ".join(f"sinks[{j}]" for j, k in enumerate(kinds) if k == kinds[i] and j != i)
        raise ValueError(f"sinks[{i}] is a {kinds[i]} sink like {others}: give each of them a name (name: ...)")
    named = [e if e.name is not None else e.model_copy(update={"name": e.kind}) for e in entries]
    seen: dict[str, int] = {}
    for index, entry in enumerate(named):
        assert entry.name is not None
        if entry.name in seen:
            raise ValueError(
                f"sinks[{seen[entry.name]}] and sinks[{index}] are both named '{entry.name}'; sink names must be unique"
            )
        seen[entry.name] = index
    return named
