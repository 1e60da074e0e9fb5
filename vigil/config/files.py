"""The files a configuration refers to (`api.token_file`, and the secret-file keys the catalog
declares for each kind: `sources[].password_file`, `sinks[].secret_file` ...): read and checked
when the configuration is loaded, so `vigil check` and `vigil run` refuse a missing or unusable
file before anything starts.

Validators stay free of I/O; `file_problems(config)` is the step after validation that reads the
files, and reports every problem with the key path it came from (the loader adds the line).
Messages name the file and what is wrong with it, never its contents.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vigil.catalog import CATALOG, Registry, SecretFile
from vigil.config.stages import StageSpec
from vigil.errors import ConfigError

__all__ = [
    "READERS",
    "WRITTEN_FILES",
    "Location",
    "Problem",
    "file_problems",
    "read_password_file",
    "read_secret",
    "read_token_file",
    "secret_reader",
    "state_directory",
    "token_problem",
]

Location = tuple[str | int, ...]

MIN_TOKEN_LENGTH = 16
# A secret is a line, not a document; a bigger file is the wrong file (and /dev/zero never ends).
_MAX_SECRET_BYTES = 64 * 1024

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a loaded configuration: the key path and what to do about it."""

    loc: Location
    message: str


def state_directory(environ: Mapping[str, str]) -> Path:
    """Where the daemon keeps its state (the API's state file, the sinks' default spools):
    systemd's `StateDirectory=` (`$STATE_DIRECTORY`, one per unit instance) or else
    `$XDG_STATE_HOME/vigil` (default `~/.local/state/vigil`)."""
    state_dir = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state_dir:
        return Path(state_dir)
    xdg = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".local" / "state")
    return Path(xdg) / "vigil"


def read_secret(path: str | Path, what: str = "the secret") -> bytes:
    """The contents of a secret file, surrounding whitespace stripped; `ConfigError` when it is
    missing, not a regular file (reading a FIFO would block, a device never ends), too large,
    unreadable or empty."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; create it or fix the path") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot access it ({exc.strerror}); check the path") from None
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise ConfigError(f"{path}: is {kind}, not a file; point it at a file holding {what}")
    if info.st_size > _MAX_SECRET_BYTES:
        raise ConfigError(f"{path}: {info.st_size} bytes is too large for a secret file (at most 64 KiB); check the path")
    try:
        with open(path, "rb") as file:
            data = file.read(_MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror}); check its permissions") from None
    secret = data.strip()
    if not secret:
        raise ConfigError(f"{path}: is empty; write {what} into it")
    return secret


def token_problem(token: str) -> str | None:
    """What is wrong with a bearer token (whitespace around it ignored), or None. The same rule
    for every way a token arrives: inline `token`, `${VAR}` in it, or `token_file`."""
    token = token.strip()
    if not token:
        return "the token is empty; use a random token of at least 16 characters (openssl rand -hex 32)"
    if not all("!" <= c <= "~" for c in token):
        # It travels in an HTTP header: "Authorization: Bearer TOKEN" (RFC 6750).
        return "the token holds a space, control or non-ASCII character; use visible ASCII only (openssl rand -hex 32)"
    if len(token) < MIN_TOKEN_LENGTH:
        return f"the token has {len(token)} character(s); use at least {MIN_TOKEN_LENGTH} (openssl rand -hex 32)"
    return None


def read_token_file(path: str | Path) -> str:
    """The bearer token in `path`, checked like an inline token."""
    raw = read_secret(path, f"a token of at least {MIN_TOKEN_LENGTH} characters (openssl rand -hex 32)")
    problem = token_problem(raw.decode("ascii", "replace"))
    if problem:
        raise ConfigError(f"{path}: {problem}")
    return raw.decode("ascii")


def read_password_file(path: str | Path, what: str = "the camera's password") -> str:
    """A password: UTF-8 text (a camera's is percent-encoded into the URL)."""
    try:
        return read_secret(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text; write the password as text") from None


def secret_reader(secret: SecretFile) -> Callable[[str], object]:
    """How a kind's secret-file key (`vigil.catalog.SecretFile`) is read and checked."""
    if secret.read == "token":
        return read_token_file
    if secret.read == "text":
        return lambda path: read_password_file(path, secret.holds)
    return lambda path: read_secret(path, secret.holds)


# How each `*_file` key of the sections that are not kinds is read (the kinds' keys are their
# catalog entries' `secret_files`): a new one must be added here or to WRITTEN_FILES (a test checks).
READERS: dict[str, Callable[[str], object]] = {
    "token_file": read_token_file,
    # fleet: (vigil/config/fleet.py): its NATS credentials, as the nats sink's
    "password_file": lambda path: read_password_file(path, "the NATS password"),
    "credentials_file": lambda path: read_secret(path, "the NATS credentials (a .creds file)"),
    "ca_file": lambda path: read_secret(path, "the CA certificates (PEM)"),
}
# Files vigil writes (they may not exist yet): not read at load.
WRITTEN_FILES = frozenset({"state_file"})
# The lists whose entries are kinds, and the catalog section that declares them.
_KIND_LISTS: dict[str, Registry[Any]] = {"sources": CATALOG.sources, "sinks": CATALOG.sinks, "stages": CATALOG.stages}


def file_problems(
    section: BaseModel, loc: Location = (), readers: Mapping[str, Callable[[str], object]] = READERS
) -> list[Problem]:
    """Read every file key of `section` and its subsections (`readers`; in an entry of a kind,
    its kind's secret files too); one problem per unusable file.

    Sections switched off (`enabled: false`) are skipped: nothing would read their files."""
    if getattr(section, "enabled", True) is False:
        return []
    problems: list[Problem] = []
    for name in type(section).model_fields:
        value = getattr(section, name)
        items = list(enumerate(value)) if isinstance(value, (list, tuple)) else [(None, value)]
        for index, item in items:
            where = loc + (name,) if index is None else loc + (name, index)
            inner = _kind_readers(name, item, readers)
            if isinstance(item, StageSpec):
                item = item.config
            if isinstance(item, BaseModel):
                problems += file_problems(item, where, inner)
            elif name in readers and isinstance(item, str):
                try:
                    readers[name](item)
                except ConfigError as exc:
                    problems.append(Problem(where, str(exc)))
    return problems


def _kind_readers(
    name: str, item: object, readers: Mapping[str, Callable[[str], object]]
) -> Mapping[str, Callable[[str], object]]:
    """`readers` plus the secret files of the kind `item` is, when it is an entry of a list of kinds."""
    kind = getattr(item, "kind", None)
    section = _KIND_LISTS.get(name)
    if section is None or not isinstance(kind, str) or kind not in section:
        return readers
    return {**readers, **{secret.key: secret_reader(secret) for secret in section.get(kind).secret_files}}
