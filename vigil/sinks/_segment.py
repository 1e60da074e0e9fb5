"""The spool's files: its record framing, [u32 length][u32 CRC32 of the length bytes +
payload][payload], and its cursor file.

The checksum covers the length too, so a torn or flipped length is caught like a torn payload.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import sys
import zlib
from contextlib import suppress
from pathlib import Path
from typing import IO

from vigil.sinks._spool_types import Position
from vigil.sinks.files import open_output

__all__ = ["CURSOR", "HEADER", "encode", "fsync_directory", "load_cursor", "read_record", "save_cursor", "scan"]

log = logging.getLogger("vigil.sinks.spool")

HEADER = struct.Struct("<II")
_LENGTH = struct.Struct("<I")


def encode(payload: bytes) -> bytes:
    length = _LENGTH.pack(len(payload))
    return HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(length))) + payload


def read_record(f: IO[bytes], offset: int, limit: int) -> bytes | None:
    """The payload of the record at `offset` in a segment whose records end by `limit`, or
    None when the record is damaged."""
    f.seek(offset)
    header = f.read(HEADER.size)
    if len(header) != HEADER.size:
        return None
    length, crc = HEADER.unpack(header)
    if offset + HEADER.size + length > limit:
        return None
    payload = f.read(length)
    if len(payload) != length or zlib.crc32(payload, zlib.crc32(header[:4])) != crc:
        return None
    return payload


def scan(path: Path) -> tuple[list[int], int]:
    """The end offset of every intact record from the start of a segment, and the file size."""
    data = memoryview(path.read_bytes())
    ends: list[int] = []
    pos = 0
    while pos + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, pos)
        end = pos + HEADER.size + length
        if end > len(data) or zlib.crc32(data[pos + HEADER.size : end], zlib.crc32(data[pos : pos + 4])) != crc:
            break
        ends.append(end)
        pos = end
    return ends, len(data)


def fsync_directory(directory: Path) -> None:
    """Make a new segment's directory entry durable (POSIX; Windows has no directory fsync)."""
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


CURSOR = "cursor.json"  # the first undelivered byte: {"segment": 7, "offset": 4096}


def load_cursor(directory: Path) -> Position:
    """The spool's saved cursor; the start when there is none, or when a power loss tore it."""
    path = directory / CURSOR
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Position(int(data["segment"]), int(data["offset"]))
    except FileNotFoundError:
        return Position(0, 0)
    except (ValueError, KeyError, TypeError):
        # Resending from the oldest segment is safe (receivers deduplicate by id), guessing
        # where delivery stopped is not.
        log.warning("spool %s: %s is unreadable; resending every record still on disk", directory, path)
        return Position(0, 0)


def save_cursor(directory: Path, cursor: Position, who: str, *, fsync: bool) -> None:
    """Replace the cursor file atomically (a temporary renamed over it); a failed write leaves
    no temporary behind to hold the space."""
    path = directory / CURSOR
    tmp = path.with_suffix(".tmp")
    try:
        with open(open_output(tmp, who, append=False), "w", encoding="utf-8") as f:
            json.dump({"segment": cursor.segment, "offset": cursor.offset}, f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
