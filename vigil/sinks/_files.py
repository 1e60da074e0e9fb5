"""Files of the picture sinks: per-source folders, UTC names, atomic writes."""

from __future__ import annotations

import os
import re
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path

from vigil.errors import SinkError

__all__ = ["make_directory", "source_folder", "utc_stamp", "write_atomic"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def make_directory(path: Path, sink: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SinkError(
            f"sink '{sink}': cannot create directory {path} ({exc.strerror}); check the path and its permissions"
        ) from exc


def source_folder(directory: Path, source_id: str, sink: str) -> tuple[Path, str]:
    """The folder of a source's files, created, and the name files of it start with.

    Configured source names are already safe; a name given through the Python API could hold
    `/` or start with `.`, and must not lead outside `directory`."""
    name = _UNSAFE.sub("_", source_id).lstrip(".") or "source"
    folder = directory / name
    make_directory(folder, sink)
    return folder, name


def utc_stamp(when: datetime, *, milliseconds: bool = False) -> str:
    """`20261124T003112Z` (or `20261124T003112.633Z`): sortable, and valid in every file system."""
    utc = when.astimezone(timezone.utc)
    if milliseconds:
        return f"{utc:%Y%m%dT%H%M%S}.{utc.microsecond // 1000:03d}Z"
    return f"{utc:%Y%m%dT%H%M%S}Z"


def write_atomic(path: Path, data: bytes, sink: str) -> None:
    """Write `data` to a hidden temporary file beside `path`, then rename it: a reader sees the
    whole file or none. (Not fsynced: it survives a vigil crash, not necessarily a power loss.)"""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise SinkError(f"sink '{sink}': cannot write {path} ({exc.strerror}); check free space and permissions") from exc
