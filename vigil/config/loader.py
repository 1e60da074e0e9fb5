"""YAML configuration files: parsed with line numbers, `${VAR}` substituted, validated.

    config = load_config(Path("/etc/vigil/vigil.yaml"))   # -> DaemonConfig, or ConfigError

`${VAR}` (or `${VAR:-default}`) inside any string value is replaced by the environment
variable, read when the file is loaded; a missing variable without a default is an error that
names the key and the line. Secrets are best kept out of the file altogether: use the `*_file`
keys (`api.token_file`, `webhook.secret_file`) or `${VAR}`. Every validation error names the
key path and the line it is on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vigil.config.daemon import DaemonConfig
from vigil.errors import ConfigError

__all__ = ["load_config", "parse_config"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Location = tuple[str | int, ...]


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> DaemonConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read it ({exc.strerror})") from exc
    return parse_config(text, str(path), os.environ if environ is None else environ)


def parse_config(text: str, name: str, environ: Mapping[str, str]) -> DaemonConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"config {name}{where}: not valid YAML ({problem})") from exc
    if root is None:
        raise ConfigError(f"config {name}: the file is empty; see examples/ for a starting point")
    builder = _Builder(name, environ)
    data = builder.build(root, ())
    lines = builder.lines
    if not isinstance(data, dict):
        raise ConfigError(f"config {name} line {root.start_mark.line + 1}: the top level must be a mapping of sections")
    try:
        return DaemonConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, name, lines)) from None


class _Builder:
    """Turns the composed YAML into plain Python, recording the line of every key path."""

    def __init__(self, name: str, environ: Mapping[str, str]) -> None:
        self.name, self.environ = name, environ
        self.lines: dict[Location, int] = {}
        self._loader = yaml.SafeLoader("")

    def build(self, node: yaml.Node, loc: Location) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in out:
                    raise ConfigError(f"config {self.name} line {line}: key '{key}' appears twice")
                child = loc + (key,)
                self.lines[child] = line
                out[key] = self.build(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, loc + (i,)) for i, item in enumerate(node.value)]
        value = self._loader.construct_object(node)
        return self._substitute(value, loc) if isinstance(value, str) else value

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


def _explain(exc: ValidationError, name: str, lines: dict[Location, int]) -> str:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        line = _line_of(loc, lines)
        where = f"line {line}: " if line else ""
        problems.append(f"{where}{_dotted(loc) or '(top level)'}: {error['msg']}")
    return f"config {name}: " + "; ".join(problems)


def _line_of(loc: Location, lines: dict[Location, int]) -> int | None:
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
