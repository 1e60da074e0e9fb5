"""Files of the sinks and clips: per-source folders, UTC names, atomic writes, and how output
files are made: directories 0750 and files 0640 (the umask may take more away, never add),
never following a symbolic link planted where an output file goes."""

from __future__ import annotations

import errno
import os
import re
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path

from vigil.errors import SinkError

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "make_directory",
    "make_dirs",
    "open_output",
    "source_folder",
    "utc_stamp",
    "write_atomic",
]

DIR_MODE = 0o750  # footage is not for every account on the machine
FILE_MODE = 0o640
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # POSIX; Windows has no such flag (nor such links)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def make_dirs(path: Path, mode: int = DIR_MODE) -> None:
    """Create `path` and its missing parents with `mode` (directories that exist are left as
    they are; `os.makedirs` gives the parents the umask's mode instead). Raises OSError."""
    missing: list[Path] = []
    current = path
    while not current.is_dir() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with suppress(FileExistsError):
            directory.mkdir(mode)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(path))


def make_directory(path: Path, sink: str, mode: int = DIR_MODE) -> None:
    """`make_dirs` for sink `sink`, failing with a `SinkError` that names the path."""
    try:
        make_dirs(path, mode)
    except OSError as exc:
        raise SinkError(
            f"sink '{sink}': cannot create directory {path} ({exc.strerror}); check the path and its permissions"
        ) from exc


def open_output(path: Path, who: str, *, append: bool = True, exclusive: bool = False, mode: int = FILE_MODE) -> int:
    """A descriptor of `path` opened for writing (appending, or truncated), created with `mode`
    when new; a symbolic link at `path` is refused, not followed. Raises `SinkError` naming the
    path for a link (`who` writes it: "sink 'snapshots'", "spool /var/..."), and the OSError
    itself otherwise (the caller knows what it was doing)."""
    flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW | _CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    if exclusive:
        flags |= os.O_EXCL
    try:
        return os.open(path, flags, mode)
    except OSError as exc:
        if os.path.islink(path):
            raise SinkError(
                f"{who}: {path} is a symbolic link; vigil never writes through a link at an output "
                "path: remove it (or point the sink at the real directory)"
            ) from exc
        raise


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
    whole file or none. (Not fsynced: it survives a vigil crash, not necessarily a power loss.)
    A link at `path` is refused; the temporary file is never opened through one."""
    if os.path.islink(path):
        raise SinkError(
            f"sink '{sink}': {path} is a symbolic link; vigil never writes through a link at an output path: remove it"
        )
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with suppress(FileNotFoundError):
            temporary.unlink()  # left by a crash, or planted: either way not ours to follow
        fd = open_output(temporary, f"sink '{sink}'", append=False, exclusive=True)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as exc:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise SinkError(f"sink '{sink}': cannot write {path} ({exc.strerror}); check free space and permissions") from exc
