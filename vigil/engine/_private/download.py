"""The download cache: files fetched over HTTP land under VIGIL_HOME, verified, atomically.

A file is streamed into a temporary file beside its destination while its sha256 is computed;
only a file whose hash (and size) match is fsynced and renamed into place, so a mismatching or
truncated file is never left in the cache. An exclusive lock file per destination makes two
processes that want the same file download it once: the second finds it in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import random
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.client import HTTPException
from pathlib import Path
from typing import Any, TypeVar

from vigil.engine._private.hashing import sha256_of
from vigil.errors import ModelLoadError

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 429, 500, 502, 503, 504}
T = TypeVar("T")


def vigil_home() -> Path:
    """`$VIGIL_HOME`, else `$XDG_CACHE_HOME/vigil`, else `~/.cache/vigil` (read when called)."""
    if home := os.environ.get("VIGIL_HOME"):
        return Path(home)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "vigil"


class _Retryable(Exception):
    pass


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def http_get_bytes(url: str, *, timeout: float = 30.0, attempts: int = 4) -> bytes:
    """A small document (model.json, package.json), with the same retries as files."""
    return _with_retries(url, attempts, lambda: _read_all(url, timeout))


def _read_all(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code in RETRY_STATUS:
            raise _Retryable(f"HTTP {exc.code}") from exc
        raise ModelLoadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, HTTPException, TimeoutError, ConnectionError) as exc:
        raise _Retryable(str(getattr(exc, "reason", exc))) from exc


def _with_retries(url: str, attempts: int, action: Callable[[], T]) -> T:
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except _Retryable as exc:
            if attempt == attempts:
                raise ConnectionError(f"{url}: {exc} (gave up after {attempts} attempts)") from exc
            log.warning("%s: %s; retrying in %.1fs (attempt %d of %d)", url, exc, delay, attempt + 1, attempts)
            time.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


def download_verified(url: str, dest: Path, sha256: str, size: int | None, *, timeout: float = 30.0, attempts: int = 4) -> Path:
    """Make `dest` hold the file at `url` with this sha256, downloading only if needed."""
    with file_lock(dest.with_name(dest.name + ".lock")):
        if dest.is_file() and sha256_of(dest) == sha256:
            return dest
        _with_retries(url, attempts, lambda: _stream(url, dest, sha256, size, timeout))
    return dest


def _stream(url: str, dest: Path, sha256: str, size: int | None, timeout: float) -> None:
    digest, received = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    announced = int(response.headers.get("Content-Length") or 0)
                    bar = _progress(dest.name, size or announced)
                    while block := response.read(1 << 20):
                        out.write(block)
                        digest.update(block)
                        received += len(block)
                        if bar is not None:
                            bar.update(len(block))
                    if bar is not None:
                        bar.close()
                    if received < announced:  # http.client's read(n) does not raise on a cut body
                        raise _Retryable(f"connection closed after {received} of {announced} bytes")
            except urllib.error.HTTPError as exc:
                if exc.code in RETRY_STATUS:
                    raise _Retryable(f"HTTP {exc.code}") from exc
                raise ModelLoadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            except (urllib.error.URLError, HTTPException, TimeoutError, ConnectionError) as exc:
                raise _Retryable(f"download interrupted after {received} bytes ({getattr(exc, 'reason', exc)})") from exc
            # A cut connection surfaces above as IncompleteRead (retried); a complete response
            # with the wrong bytes is the registry's error and retrying cannot fix it.
            if digest.hexdigest() != sha256 or (size is not None and received != size):
                raise ModelLoadError(
                    f"{url}: downloaded file ({received} bytes) has sha256 {digest.hexdigest()[:12]}..., expected "
                    f"{sha256[:12]}...; the registry serves a different file than its package.json lists (not cached)"
                )
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        dir_fd = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)


def _progress(name: str, total: int) -> Any:
    if not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total or None, unit="B", unit_scale=True, desc=f"downloading {name}", leave=False)
