"""The spool's record framing: [u32 length][u32 CRC32 of the length bytes + payload][payload].

The checksum covers the length too, so a torn or flipped length is caught like a torn payload.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path
from typing import IO

__all__ = ["HEADER", "encode", "fsync_directory", "read_record", "scan"]

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
