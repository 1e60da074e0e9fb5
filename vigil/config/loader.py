"""YAML configuration files: parsed with line numbers, `${VAR}` substituted, validated.

    config = load_config(Path("/etc/vigil/vigil.yaml"))   # -> DaemonConfig, or ConfigError

`${VAR}` (or `${VAR:-default}`) inside any string value is replaced by the environment
variable, read when the file is loaded; a missing variable without a default is an error that
names the key and the line. Secrets are best kept out of the file altogether: use the `*_file`
keys (`api.token_file`, `sinks[].secret_file`) or `${VAR}`. Every validation error names the
key path and the line it is on.

`load_config` also reads the files the configuration refers to (`vigil.config.files`), so a
missing or empty secret file is refused at load, by `vigil check` as by `vigil run`; `read_config`
stops after validation and keeps the line of every key, for checks made after it. Nothing but a
`ConfigError` leaves this module, whatever the file holds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from vigil.config.daemon import DaemonConfig
from vigil.config.files import Location, Problem, file_problems
from vigil.config.sink_list import legacy_positions
from vigil.errors import ConfigError

__all__ = ["LoadedConfig", "load_config", "parse_config", "read_config", "read_document"]

ModelT = TypeVar("ModelT", bound=BaseModel)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Bounds on the work a file can cause. YAML aliases share one composed node, so a "billion
# laughs" file is small and cheap to compose; the cost is in building plain Python from it,
# where every alias is expanded. Counting the values built bounds that work (time and memory)
# whatever the nesting of aliases; a real configuration has a few hundred values, so 100,000 is
# generous. Nesting is bounded too, so no file can exhaust Python's stack, and a number is
# bounded in length (int() of a long digit string is slow, or refused by Python past 4,300 digits).
_MAX_VALUES = 100_000
_MAX_DEPTH = 50
_MAX_NUMBER_CHARS = 1000
_INT_TAG = "tag:yaml.org,2002:int"
_MAX_SHOWN = 20  # problems listed in one message


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and the line of every key path, so that a problem found after
    validation (a file, the model) can point at its line."""

    config: DaemonConfig
    name: str
    lines: Mapping[Location, int]
    # sinks[i] that came from an old top-level section (`webhook:`): problems are told there.
    legacy: Mapping[int, str] = field(default_factory=dict)

    def error(self, problems: Sequence[Problem]) -> ConfigError:
        """One error listing every problem, each with its line and key path."""
        return ConfigError(_describe(self.name, _as_written(problems, self.legacy), self.lines))


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> DaemonConfig:
    """Read and validate `path`, then read the files it refers to (what `vigil run` and a reload use)."""
    loaded = read_config(path, environ)
    problems = file_problems(loaded.config)
    if problems:
        raise loaded.error(problems)
    return loaded.config


def read_config(path: Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read and validate `path`; the files it refers to are not read."""
    return _parse(_read_text(path), str(path), os.environ if environ is None else environ)


def read_document(path: Path, model: type[ModelT], environ: Mapping[str, str] | None = None) -> ModelT:
    """`path` validated as `model`, a file that is not a whole configuration (`vigil fleet apply`'s
    cameras), read as a configuration is: `${VAR}`, the same bounds, errors naming key and line."""
    name = str(path)
    root = _compose(_read_text(path), name)
    if root is None:
        raise ConfigError(f"{name}: the file is empty")
    builder = _Builder(name, os.environ if environ is None else environ)
    data = builder.build(root, ())
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, name, builder.lines, {})) from None


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read it ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"config {path} line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None
    return text


def parse_config(text: str, name: str, environ: Mapping[str, str]) -> DaemonConfig:
    """Validate the YAML `text` (`name` for messages); no file it refers to is read."""
    return _parse(text, name, environ).config


def _parse(text: str, name: str, environ: Mapping[str, str]) -> LoadedConfig:
    root = _compose(text, name)
    if root is None:
        raise ConfigError(f"config {name}: the file is empty; see examples/ for a starting point")
    builder = _Builder(name, environ)
    data = builder.build(root, ())
    lines = builder.lines
    if not isinstance(data, dict):
        raise ConfigError(f"config {name} line {root.start_mark.line + 1}: the top level must be a mapping of sections")
    legacy = legacy_positions(data)
    try:
        return LoadedConfig(DaemonConfig.model_validate(data), name, lines, legacy)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, name, lines, legacy)) from None


def _compose(text: str, name: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(
            f"config {name} line {line}: not valid YAML (character #x{exc.character:04x} is not allowed: {exc.reason})"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"config {name}{where}: not valid YAML ({problem})") from exc
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise ConfigError(
            f"config {name}: nested too deeply to be a configuration (more than {_MAX_DEPTH} levels); check the brackets"
        ) from None


class _Builder:
    """Turns the composed YAML into plain Python, recording the line of every key path."""

    def __init__(self, name: str, environ: Mapping[str, str]) -> None:
        self.name, self.environ = name, environ
        self.lines: dict[Location, int] = {}
        self._loader = yaml.SafeLoader("")
        self._values = 0
        self._open: list[yaml.Node] = []  # the collections being built, outermost first

    def build(self, node: yaml.Node, loc: Location) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        self._values += 1
        if self._values > _MAX_VALUES:
            raise self._error(
                loc,
                f"the file expands to more than {_MAX_VALUES:,} values (aliases repeated inside "
                "aliases?); a configuration has a few hundred",
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, loc)
        if any(node is open_node for open_node in self._open):
            raise self._error(loc, "an alias refers to a value that contains it (a loop that never ends); remove it")
        if len(self._open) >= _MAX_DEPTH:
            raise self._error(loc, f"nested more than {_MAX_DEPTH} levels deep; a configuration needs a handful")
        self._open.append(node)
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            return [self.build(item, loc + (i,)) for i, item in enumerate(node.value)]
        finally:
            self._open.pop()

    def _mapping(self, node: yaml.MappingNode, loc: Location) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    f"config {self.name} line {line}: {_dotted(loc) or '(top level)'}: a key must be a "
                    "plain name, not a list or mapping"
                )
            key = str(key_node.value)
            if key in out:
                raise ConfigError(f"config {self.name} line {line}: key '{key}' appears twice")
            child = loc + (key,)
            self.lines[child] = line
            out[key] = self.build(value_node, child)
        return out

    def _scalar(self, node: yaml.ScalarNode, loc: Location) -> Any:
        if node.tag == _INT_TAG and len(node.value) > _MAX_NUMBER_CHARS:
            raise self._error(loc, f"a number of {len(node.value)} characters; no setting takes one this long")
        try:
            value = self._loader.construct_object(node)
        except Exception as exc:  # noqa: BLE001 - PyYAML's constructors raise what they meet (ValueError, TypeError, ...)
            # Never the value itself in the message: it may be a secret.
            detail = exc.problem if isinstance(exc, yaml.MarkedYAMLError) and exc.problem else type(exc).__name__
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise self._error(loc, f"cannot read this value as {tag} ({detail}); fix the value or remove the tag") from None
        return self._substitute(value, loc) if isinstance(value, str) else value

    def _error(self, loc: Location, message: str) -> ConfigError:
        return ConfigError(f"config {self.name} line {self.lines[loc]}: {_dotted(loc) or '(top level)'}: {message}")

    def _substitute(self, value: str, loc: Location) -> str:
        def replace(match: re.Match[str]) -> str:
            var, default = match.group(1), match.group(2)
            if var in self.environ:
                return self.environ[var]
            if default is not None:
                return default
            raise ConfigError(
                f"config {self.name} line {self.lines[loc]}: {_dotted(loc)} uses ${{{var}}}, which is not set in the "
                f"environment (set it, or write ${{{var}:-default}})"
            )

        return _VAR.sub(replace, value)


def _explain(exc: ValidationError, name: str, lines: Mapping[Location, int], legacy: Mapping[int, str]) -> str:
    problems = [Problem(tuple(error["loc"]), error["msg"]) for error in exc.errors()]
    return _describe(name, _as_written(problems, legacy), lines)


def _as_written(problems: Sequence[Problem], legacy: Mapping[int, str]) -> list[Problem]:
    """Problems in `sinks[i]` that the file wrote as an old section (`webhook:`) located there."""
    out = []
    for problem in problems:
        loc = problem.loc
        if len(loc) >= 2 and loc[0] == "sinks" and isinstance(loc[1], int) and loc[1] in legacy:
            loc = (legacy[loc[1]], *loc[2:])
        out.append(Problem(loc, problem.message))
    return out


def _describe(name: str, problems: Sequence[Problem], lines: Mapping[Location, int]) -> str:
    shown = []
    for problem in problems[:_MAX_SHOWN]:
        line = _line_of(problem.loc, lines)
        where = f"line {line}: " if line else ""
        shown.append(f"{where}{_dotted(problem.loc) or '(top level)'}: {problem.message}")
    if len(problems) > _MAX_SHOWN:
        shown.append(f"and {len(problems) - _MAX_SHOWN} more problem(s)")
    return f"config {name}: " + "; ".join(shown)


def _line_of(loc: Location, lines: Mapping[Location, int]) -> int | None:
    """The line of the key, or of its nearest enclosing key that exists in the file."""
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return None


def _dotted(loc: Location) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
