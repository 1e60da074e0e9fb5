"""The spool's value types: its options (`SpoolOptions`, `FsyncPolicy`), positions in it and the
records it hands out. Kept apart from `spool.py`, which re-exports them, so that file stays the
spool's logic only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from vigil.errors import ConfigError

__all__ = ["FsyncPolicy", "Position", "SpoolOptions", "SpoolRecord", "Segment"]

MIN_SEGMENT = 4096


class FsyncPolicy(str, Enum):
    """When appended records are forced to the disk.

    `always`: before `append` returns (survives power loss, slowest); `interval`: at most every
    `fsync_interval_ms` (a power loss loses at most that window); `never`: when the OS decides
    (a crash of vigil loses nothing, a power loss may lose what the OS had not written).
    """

    ALWAYS = "always"
    INTERVAL = "interval"
    NEVER = "never"


@dataclass(frozen=True)
class SpoolOptions:
    """`max_bytes` caps the spool on disk: appending beyond it drops the oldest segment (its
    undelivered records are counted in `Spool.dropped_records`)."""

    segment_bytes: int = 8 * 2**20
    max_bytes: int = 512 * 2**20
    fsync: FsyncPolicy = FsyncPolicy.INTERVAL
    fsync_interval_ms: float = 1000.0

    def __post_init__(self) -> None:
        if self.segment_bytes < MIN_SEGMENT:
            raise ConfigError(f"spool segment_bytes must be at least {MIN_SEGMENT}, got {self.segment_bytes}")
        if self.max_bytes < 2 * self.segment_bytes:
            raise ConfigError(
                f"spool max_bytes ({self.max_bytes}) must hold at least two segments of {self.segment_bytes} bytes; "
                "raise max_bytes or lower segment_bytes"
            )
        if self.fsync_interval_ms <= 0:
            raise ConfigError(f"spool fsync_interval_ms must be positive, got {self.fsync_interval_ms}")


@dataclass(frozen=True, order=True)
class Position:
    """A byte in the spool: segments are numbered in append order, so positions compare."""

    segment: int
    offset: int


@dataclass(frozen=True)
class SpoolRecord:
    payload: bytes
    end: Position  # just after the record: acking the record moves the cursor here


@dataclass
class Segment:
    id: int
    path: Path
    size: int
    unread: int  # records not yet handed out by `read`
