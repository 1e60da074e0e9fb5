"""A durable on-disk spool: records wait here until a sink has delivered them.

Layout of the directory:

    00000000000000000007.seg   append-only segments of records (framing: _segment.py)
    cursor.json                the first undelivered byte: {"segment": 7, "offset": 4096}
    lock                       held (flock) while a process owns the spool

The spool is synchronous on purpose: one thread owns it (`DurableSender` runs every call on a
single-thread executor), so it needs no locks and the event loop never waits on a disk.
Delivery is at least once: a record is forgotten only after `ack`, and the cursor is fsynced
only with the `always` policy, so after a power loss records delivered just before it may be
handed out again; receivers deduplicate by record id.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, ParamSpec, TypeVar

from vigil.errors import SinkError
from vigil.sinks._segment import HEADER, encode, fsync_directory, load_cursor, read_record, save_cursor, scan
from vigil.sinks._spool_types import FsyncPolicy, Position, Segment, SpoolOptions, SpoolRecord
from vigil.sinks.files import make_dirs, open_output

if sys.platform != "win32":
    import fcntl

__all__ = ["FsyncPolicy", "Position", "Spool", "SpoolOptions", "SpoolRecord"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_SUFFIX = ".seg"


class Spool:
    """Append-only records in segment files, read back in order, forgotten once acknowledged.

        spool = Spool(Path("spool"))
        spool.append(b'{"id": "..."}')
        batch = spool.read(50)    # in append order, from the first undelivered record
        ...deliver...
        spool.ack(batch)          # persisted: after a restart reading resumes after the batch

    Opening recovers from a crash: a torn or corrupt tail of a segment is truncated away and
    everything before it kept.
    """

    def __init__(self, directory: str | Path, options: SpoolOptions | None = None) -> None:
        self.directory = Path(directory)
        self.options = options or SpoolOptions()
        self.dropped_records = 0
        self._segments: list[Segment] = []
        self._cursor = Position(0, 0)
        self._read = Position(0, 0)
        self._backlog = 0  # one int, so another thread reads a consistent gauge
        self._reader: tuple[int, IO[bytes]] | None = None
        self._writer: IO[bytes] | None = None
        self._dirty = False
        self._cursor_unsaved = False  # acknowledged in memory, not yet on disk (a full disk)
        self._last_sync = time.monotonic()
        self._lock: IO[bytes] | None = None
        try:
            self._open()
        except OSError as exc:
            self.close()
            raise self._error("cannot be opened", exc) from exc
        except BaseException:
            self.close()
            raise

    @property
    def backlog(self) -> int:
        """Records appended and not yet acknowledged (those handed out by `read` included)."""
        return self._backlog

    @property
    def size_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def pending_bytes(self) -> int:
        """Bytes of the records not yet acknowledged: how close the backlog is to the cap."""
        delivered = self._cursor.offset if self._segments and self._segments[0].id == self._cursor.segment else 0
        return self.size_bytes - delivered

    @property
    def needs_sync(self) -> bool:
        """Appended bytes have not been fsynced yet (the `interval` policy's timer checks it)."""
        return self._dirty

    def append(self, payload: bytes) -> None:
        size = HEADER.size + len(payload)
        if size > self.options.segment_bytes:
            raise SinkError(
                f"spool {self.directory}: a record of {size} bytes does not fit in a segment of "
                f"{self.options.segment_bytes} bytes; raise the segment size"
            )
        if self._active.size and self._active.size + size > self.options.segment_bytes:
            self._guard("cannot start a new segment", self._roll)
        while self.size_bytes + size > self.options.max_bytes:
            self._guard("cannot drop the oldest segment", self._drop_oldest)
        self._guard("cannot append a record", self._write, encode(payload))

    @property
    def cursor_unsaved(self) -> bool:
        """An `ack` could not save the cursor (a full disk): `save_cursor` tries again. Until
        then a restart would send the acknowledged records again (never lose any)."""
        return self._cursor_unsaved

    def read(self, max_records: int) -> list[SpoolRecord]:
        """Up to `max_records` records after the last one handed out, in append order. A read
        that fails after some records hands those out (they are read past) and raises next time."""
        out: list[SpoolRecord] = []
        while len(out) < max_records:
            segment = self._segment_at(self._read)
            if segment is None:
                break
            try:
                record = self._guard("cannot read a record", self._read_one, segment)
            except SinkError:
                if out:
                    return out
                raise
            if record is not None:
                out.append(record)
        return out

    def ack(self, records: list[SpoolRecord]) -> None:
        """Mark `records` (the oldest ones handed out, in order) delivered; persist the cursor and
        delete the segments that are now fully delivered."""
        if not records:
            return
        self._backlog -= len(records)
        self._cursor = max(self._cursor, records[-1].end)
        self.save_cursor()

    def save_cursor(self) -> None:
        """Persist the cursor and delete fully delivered segments; on failure (SinkError) the
        acknowledgement stands in memory and `cursor_unsaved` says a later call must retry."""
        self._cursor_unsaved = True
        self._guard("cannot save the delivery cursor", self._save_cursor_and_trim)
        self._cursor_unsaved = False

    def rewind(self) -> None:
        """Hand out again, from the cursor, every record not acknowledged (a sender that lost
        the batches it was given starts over; receivers deduplicate by id)."""
        self._close_reader()
        self._read = self._cursor
        for segment in self._segments:
            ends, _ = self._guard("cannot read a segment", scan, segment.path)
            ends = [e for e in ends if e <= segment.size]
            start = self._cursor.offset if segment.id == self._cursor.segment else 0
            segment.unread = sum(1 for e in ends if e > start) if segment.id >= self._cursor.segment else 0
        self._backlog = sum(s.unread for s in self._segments)

    def sync(self) -> None:
        if self._dirty and self._writer is not None:
            self._guard("cannot fsync", os.fsync, self._writer.fileno())
        self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Close the files (fsynced unless the policy is `never`); safe to call twice."""
        if self._writer is not None:
            if self.options.fsync is not FsyncPolicy.NEVER:
                self.sync()
            self._writer.close()
            self._writer = None
        self._close_reader()
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening and recovery -------------------------------------------------------------------

    def _open(self) -> None:
        make_dirs(self.directory)
        self._take_lock()
        self._cursor = load_cursor(self.directory)
        for segment_id in sorted(self._segment_ids()):
            path = self._path(segment_id)
            if segment_id < self._cursor.segment:  # delivered; a crash came before its deletion
                path.unlink()
                continue
            self._segments.append(self._recover(segment_id, path))
        if not self._segments or self._segments[0].id > self._cursor.segment:
            self._cursor = Position(self._segments[0].id if self._segments else self._cursor.segment + 1, 0)
        if not self._segments:
            self._segments.append(Segment(self._cursor.segment, self._path(self._cursor.segment), 0, 0))
        self._read = self._cursor
        self._backlog = sum(s.unread for s in self._segments)
        self._writer = self._open_segment(self._active.path)
        if self.backlog:
            log.info("spool %s: %d undelivered record(s) from an earlier run", self.directory, self.backlog)

    def _take_lock(self) -> None:
        self._lock = open(open_output(self.directory / "lock", self._who), "ab")
        if sys.platform == "win32":  # no flock: keeping one process per spool is up to the user
            return
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise SinkError(
                f"spool {self.directory} is in use by another process; give each vigil its own spool directory"
            ) from exc

    def _segment_ids(self) -> list[int]:
        return [int(p.stem) for p in self.directory.glob(f"*{_SUFFIX}") if p.stem.isdigit()]

    def _recover(self, segment_id: int, path: Path) -> Segment:
        if path.is_symlink():  # recovery may truncate it: never through a link planted here
            raise SinkError(f"spool {self.directory}: {path} is a symbolic link; a spool holds only its own files: remove it")
        ends, size = scan(path)
        valid = ends[-1] if ends else 0
        if valid < size:
            log.warning(
                "spool %s: %s ends with %d byte(s) of a torn or corrupt record; truncated, the %d record(s) before it are kept",
                self.directory,
                path.name,
                size - valid,
                len(ends),
            )
            with open(path, "r+b") as f:
                f.truncate(valid)
        start = 0
        if segment_id == self._cursor.segment:
            # The cursor always sits on a record boundary; if not, step back to one (resend).
            start = max((e for e in [0, *ends] if e <= self._cursor.offset), default=0)
            self._cursor = Position(segment_id, start)
        return Segment(segment_id, path, valid, sum(1 for e in ends if e > start))

    # -- appending ----------------------------------------------------------------------------

    @property
    def _active(self) -> Segment:
        return self._segments[-1]

    def _write(self, record: bytes) -> None:
        assert self._writer is not None
        try:
            view = memoryview(record)
            while view:
                view = view[self._writer.write(view) or 0 :]
        except OSError:
            # Cut the partial record off now: bytes appended after it would be lost at recovery.
            os.ftruncate(self._writer.fileno(), self._active.size)
            raise
        self._active.size += len(record)
        self._active.unread += 1
        self._backlog += 1
        self._dirty = True
        policy = self.options.fsync
        interval_due = time.monotonic() - self._last_sync >= self.options.fsync_interval_ms / 1000
        if policy is FsyncPolicy.ALWAYS or (policy is FsyncPolicy.INTERVAL and interval_due):
            self.sync()

    def _roll(self) -> None:
        assert self._writer is not None
        if self.options.fsync is not FsyncPolicy.NEVER:
            self.sync()  # a sealed segment is complete on disk
        segment_id = self._active.id + 1
        # Opened before anything changes: a failure (a full disk) leaves the spool as it was.
        writer = self._open_segment(self._path(segment_id))
        self._writer.close()
        self._segments.append(Segment(segment_id, self._path(segment_id), 0, 0))
        self._writer = writer
        if self.options.fsync is not FsyncPolicy.NEVER:
            fsync_directory(self.directory)

    def _drop_oldest(self) -> None:
        oldest = self._segments.pop(0)
        if self._reader is not None and self._reader[0] == oldest.id:
            self._close_reader()
        oldest.path.unlink()
        self.dropped_records += oldest.unread
        self._backlog -= oldest.unread
        first = Position(self._segments[0].id, 0)
        self._read = max(self._read, first)
        if self._cursor < first:
            self._cursor = first
            try:
                self._save_cursor()
            except OSError:  # saved by the next ack, or `save_cursor`; a restart resends, never loses
                self._cursor_unsaved = True
        log.warning(
            "spool %s reached its cap of %d bytes: dropped the oldest segment with %d undelivered record(s) "
            "(%d dropped since start); the receiver is not keeping up: fix it or raise the cap",
            self.directory,
            self.options.max_bytes,
            oldest.unread,
            self.dropped_records,
        )

    # -- reading and acknowledging ------------------------------------------------------------

    def _segment_at(self, position: Position) -> Segment | None:
        """The segment holding the next unread record, moving past exhausted sealed segments."""
        for index, segment in enumerate(self._segments):
            if segment.id < position.segment:
                continue
            if segment.id > position.segment:
                self._read = position = Position(segment.id, 0)
            if position.offset < segment.size:
                return segment
            if index == len(self._segments) - 1:
                return None
        return None

    def _read_one(self, segment: Segment) -> SpoolRecord | None:
        payload = read_record(self._reader_for(segment), self._read.offset, segment.size)
        if payload is None:
            # Damaged after it was written (recovery checked it): nothing after it in this
            # segment can be framed, so skip to the next segment and count what was lost.
            log.error(
                "spool %s: record at %s offset %d is corrupt; skipping the %d record(s) left in that segment",
                self.directory,
                segment.path.name,
                self._read.offset,
                segment.unread,
            )
            self.dropped_records += segment.unread
            self._backlog -= segment.unread
            segment.unread = 0
            self._read = Position(segment.id, segment.size)
            return None
        segment.unread -= 1
        self._read = Position(segment.id, self._read.offset + HEADER.size + len(payload))
        return SpoolRecord(payload, self._read)

    def _reader_for(self, segment: Segment) -> IO[bytes]:
        if self._reader is None or self._reader[0] != segment.id:
            self._close_reader()
            self._reader = (segment.id, open(segment.path, "rb"))
        return self._reader[1]

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader[1].close()
            self._reader = None

    def _save_cursor_and_trim(self) -> None:
        # A fully delivered sealed segment: the cursor moves to the next one so it can go.
        for current, following in zip(self._segments, self._segments[1:]):
            if current.id == self._cursor.segment and self._cursor.offset >= current.size:
                self._cursor = Position(following.id, 0)
        while self._segments[0].id < self._cursor.segment:
            done = self._segments.pop(0)
            if self._reader is not None and self._reader[0] == done.id:
                self._close_reader()
            done.path.unlink()
        self._save_cursor()

    def _save_cursor(self) -> None:
        save_cursor(self.directory, self._cursor, self._who, fsync=self.options.fsync is FsyncPolicy.ALWAYS)

    # -- helpers ------------------------------------------------------------------------------

    @property
    def _who(self) -> str:
        return f"spool {self.directory}"

    def _open_segment(self, path: Path) -> IO[bytes]:
        return open(open_output(path, self._who), "ab", buffering=0)

    def _path(self, segment_id: int) -> Path:
        return self.directory / f"{segment_id:020d}{_SUFFIX}"

    def _error(self, action: str, exc: OSError) -> SinkError:
        reason = exc.strerror or type(exc).__name__
        return SinkError(
            f"spool {self.directory}: {action} ({reason}); check that the directory is writable "
            "and the disk has space, or point the spool elsewhere"
        )

    def _guard(self, action: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except OSError as exc:
            raise self._error(action, exc) from exc
