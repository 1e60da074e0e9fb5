"""A real small file system to fill and free during a run: a tmpfs mounted for the test.

    with tmpfs(4 * 2**20) as disk:      # mounted at a fresh directory; unmounted after
        ...start writing under disk...
        fill(disk)                        # every free byte taken: writes fail with ENOSPC
        ...
        free(disk)                        # the space is back

Mounting needs root (the tests and the soak bench run as root): a failure to mount raises,
it never skips. Used by tests/integration/sinks/test_disk_full.py and bench/soak.py.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["FILLER", "fill", "free", "tmpfs"]

FILLER = ".filler"  # the file that takes the space; named so output globs (*.jsonl, *.jpg) skip it
_CHUNKS = (1 << 20, 64 << 10, 4 << 10, 512)


@contextmanager
def tmpfs(size_bytes: int, parent: str | Path | None = None, *, inodes: int | None = None) -> Iterator[Path]:
    """A tmpfs of `size_bytes` mounted at a new directory (under `parent`, else the system's
    temporary directory), unmounted and removed afterwards; `inodes` caps its files (and
    directories: the root takes one), so creating a file can fail with ENOSPC too."""
    directory = Path(tempfile.mkdtemp(prefix="vigil-tmpfs-", dir=parent))
    options = f"size={int(size_bytes)},mode=0755" + (f",nr_inodes={int(inodes)}" if inodes else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if mounted.returncode != 0:
        directory.rmdir()
        raise RuntimeError(f"cannot mount a tmpfs at {directory} (tests run as root): {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        _unmount(directory)


def _unmount(directory: Path) -> None:
    for _ in range(20):  # a writer thread may hold a file a moment longer
        if subprocess.run(["umount", str(directory)], capture_output=True, timeout=30, check=False).returncode == 0:
            break
        time.sleep(0.25)
    else:  # detach it anyway: it goes once the last file is closed
        subprocess.run(["umount", "-l", str(directory)], capture_output=True, timeout=30, check=False)
    shutil.rmtree(directory, ignore_errors=True)


def fill(path: str | Path) -> int:
    """Take every free byte of the file system at `path` with a filler file; the bytes written."""
    filler = Path(path) / FILLER
    written = 0
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in _CHUNKS:
            block = b"\0" * chunk
            for _ in range(1 << 16):  # bounded: 64 Ki chunks of each size at most
                try:
                    written += os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return written


def free(path: str | Path) -> None:
    """Give back the space `fill` took."""
    (Path(path) / FILLER).unlink(missing_ok=True)
