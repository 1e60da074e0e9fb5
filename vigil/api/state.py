"""Streams added or deleted through the API, kept in a small state file so they outlive a
restart and a SIGHUP reload.

The YAML stays the base; the state file is a layer on top of it, one entry per stream name the
API touched:

    {"version": 1, "streams": {"gate": {"source": {...}, "yaml": null},
                               "door": {"source": null, "yaml": "3f1c..."}}}

`source` is the stream the API added (null: the API deleted it); `yaml` is a digest of the YAML's
entry of that name when the API changed it (null: the YAML had none). An API change holds until
the YAML entry of that stream changes: editing that stream in the file is the later word, so the
file wins and the API's entry is dropped. The file is written atomically with mode 0600 (an API
stream's URL may hold a camera password); a digest, not a copy, of the YAML entry is stored.

`StreamLayer.apply(yaml_sources)` gives the streams to run, each with its origin (`config` or
`api`); `added` and `deleted` record the API's changes and save the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from vigil.api.media import StreamPolicy
from vigil.config import SourceConfig
from vigil.config.files import state_directory
from vigil.errors import ConfigError

__all__ = ["Origin", "StreamLayer", "default_state_file"]

log = logging.getLogger(__name__)

Origin = Literal["config", "api"]
_VERSION = 1


def default_state_file(config_path: Path, environ: Mapping[str, str]) -> Path:
    """Where the daemon of `config_path` keeps its API changes: systemd's `StateDirectory=`
    (`$STATE_DIRECTORY`, one per unit instance) or else `$XDG_STATE_HOME/vigil` (default
    `~/.local/state/vigil`), named after the configuration file so two daemons never share it."""
    if environ.get("STATE_DIRECTORY", "").split(":")[0]:
        return state_directory(environ) / "api-streams.json"
    digest = hashlib.sha256(str(config_path.resolve()).encode()).hexdigest()[:12]
    return state_directory(environ) / f"api-streams-{config_path.stem}-{digest}.json"


def _digest(source: SourceConfig | None) -> str | None:
    if source is None:
        return None
    # Only what differs from the defaults: a setting added to vigil later, or a `kind` written out
    # where it was inferred, is no change of the file's entry.
    entry = source.model_dump(mode="json", exclude_defaults=True)
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()


class StreamLayer:
    """The API's changes to the streams of the YAML, persisted in `path` (None: kept in memory)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Any]] = {}  # name -> {"source": dict | None, "yaml": str | None}
        self._sources: dict[str, SourceConfig] = {}  # each entry's source, validated once (load or added)
        self._yaml: dict[str, SourceConfig] = {}  # the YAML's streams, as last applied
        self._policy: StreamPolicy | None = None  # what the API may open, checked at load

    @classmethod
    def load(cls, path: Path, policy: StreamPolicy | None = None) -> StreamLayer:
        """The layer saved in `path` (empty when there is no file yet). Each stream is validated
        like the YAML's, with the same bounds (zones.MAX_POINTS, MAX_ZONES...), and, given the
        API's `policy`, held to what the API may open today (a file stream saved before
        `api.allowed_media` changed, or by an older vigil, is not trusted for having been saved):
        one that fails is left out with an error naming it, and the others load. Reads,
        validates and resolves paths: call it off the event loop."""
        layer = cls(path)
        layer._policy = policy
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return layer
        except OSError as exc:
            raise ConfigError(f"API state file {path}: cannot read it ({exc.strerror}); fix its permissions") from exc
        try:
            data = json.loads(text)
            entries = data["streams"]
            if data.get("version") != _VERSION or not isinstance(entries, dict):
                raise ValueError("unknown layout")
            for name, entry in entries.items():
                layer._load_entry(str(name), entry)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"API state file {path} is damaged ({type(exc).__name__}); move it away to start from the YAML alone"
            ) from None
        return layer

    def _load_entry(self, name: str, entry: dict[str, Any]) -> None:
        source = entry.get("source")
        if source is not None:
            try:
                self._sources[name] = SourceConfig.model_validate(source)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"] if part not in ("file", "rtsp", "webcam"))
                log.error(
                    "API state file %s: stream '%s' refused and left out (%s: %s; %d problem(s)); the other streams load",
                    self.path,
                    name,
                    where,
                    first["msg"],
                    exc.error_count(),
                )
                return
            if self._policy is not None:
                admitted = self._policy.admit(self._sources[name])
                if admitted is None:
                    del self._sources[name]
                    log.error("API state file %s: stream '%s' refused and left out: %s", self.path, name, self._policy.refusal())
                    return
                self._sources[name] = admitted
        self._entries[name] = {"source": source, "yaml": entry.get("yaml")}

    def apply(self, yaml_sources: Sequence[SourceConfig]) -> list[tuple[SourceConfig, Origin]]:
        """The streams to run: the YAML's, with the API's additions and deletions on top."""
        self._yaml = {s.name: s for s in yaml_sources}
        stale = [n for n, e in self._entries.items() if e["yaml"] != _digest(self._yaml.get(n))]
        for name in stale:  # the YAML entry changed since the API's change: the file wins
            log.info("stream '%s': changed in the configuration file since the API changed it; the file wins", name)
            del self._entries[name]
            self._sources.pop(name, None)
        if stale:
            self._save()
        out: list[tuple[SourceConfig, Origin]] = []
        for name, source in self._yaml.items():
            entry = self._entries.get(name)
            if entry is None:
                out.append((source, "config"))
            elif entry["source"] is not None:
                out.append((self._sources[name], "api"))
        for name, entry in self._entries.items():
            if name not in self._yaml and entry["source"] is not None:
                out.append((self._sources[name], "api"))
        return out

    def origin(self, name: str) -> Origin:
        entry = self._entries.get(name)
        return "api" if entry is not None and entry["source"] is not None else "config"

    def added(self, source: SourceConfig) -> None:
        self._entries[source.name] = {"source": source.model_dump(mode="json"), "yaml": _digest(self._yaml.get(source.name))}
        self._sources[source.name] = source
        self._save()

    def deleted(self, name: str) -> None:
        if name in self._yaml:
            self._entries[name] = {"source": None, "yaml": _digest(self._yaml[name])}
        else:
            self._entries.pop(name, None)
        self._sources.pop(name, None)
        self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        body = json.dumps({"version": _VERSION, "streams": self._entries}, indent=2, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".api-streams-", dir=self.path.parent)  # mode 0600
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(body + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            # The change is live; only its persistence failed. Say so loudly, do not undo it.
            log.error(
                "API state file %s: cannot write it (%s); this API change is lost at the next restart", self.path, exc.strerror
            )
