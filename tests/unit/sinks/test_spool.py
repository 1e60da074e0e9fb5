"""The on-disk spool with real files: order, restart, recovery from torn writes, the size cap."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from vigil.errors import ConfigError, SinkError
from vigil.sinks.spool import FsyncPolicy, Spool, SpoolOptions

SMALL = SpoolOptions(segment_bytes=4096, max_bytes=64 * 4096, fsync=FsyncPolicy.NEVER)


def payload(i: int, size: int = 100) -> bytes:
    return f"record-{i:05d}-".encode().ljust(size, b".")


def fill(spool: Spool, n: int, start: int = 0, size: int = 100) -> None:
    for i in range(start, start + n):
        spool.append(payload(i, size))


def drain(spool: Spool) -> list[bytes]:
    out = []
    while batch := spool.read(7):
        out += [r.payload for r in batch]
        spool.ack(batch)
    return out


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_records_come_back_in_order_after_a_reopen_with_every_fsync_policy(tmp_path, policy):
    options = SpoolOptions(segment_bytes=4096, max_bytes=1 << 20, fsync=policy, fsync_interval_ms=5)
    spool = Spool(tmp_path, options)
    fill(spool, 100)
    assert spool.backlog == 100
    spool.close()
    spool = Spool(tmp_path, options)
    assert spool.backlog == 100
    assert drain(spool) == [payload(i) for i in range(100)]
    assert spool.backlog == 0
    spool.close()


def test_delivery_resumes_at_the_first_unacknowledged_record_after_a_restart(tmp_path):
    spool = Spool(tmp_path, SMALL)
    fill(spool, 120)
    spool.ack(spool.read(50))
    spool.read(20)  # handed out, never acknowledged: must come again
    spool.close()
    spool = Spool(tmp_path, SMALL)
    assert spool.backlog == 70
    assert drain(spool) == [payload(i) for i in range(50, 120)]
    spool.close()


def test_segments_roll_at_the_size_and_delivered_ones_are_deleted(tmp_path):
    spool = Spool(tmp_path, SMALL)
    fill(spool, 200)  # 108 bytes a record: 37 per 4096-byte segment
    assert len(segments(tmp_path)) == 6
    assert all(p.stat().st_size <= 4096 for p in segments(tmp_path))
    spool.ack(spool.read(80))  # the first two segments are fully delivered
    assert len(segments(tmp_path)) == 4
    drain(spool)
    assert len(segments(tmp_path)) == 1  # the active segment stays for the next append
    fill(spool, 3, start=200)
    assert drain(spool) == [payload(i) for i in range(200, 203)]
    spool.close()


def test_a_torn_last_record_is_truncated_and_everything_before_it_kept(tmp_path, caplog):
    spool = Spool(tmp_path, SMALL)
    fill(spool, 50)
    spool.close()
    last = segments(tmp_path)[-1]
    size = last.stat().st_size
    with open(last, "r+b") as f:
        f.truncate(size - 5)  # a write cut short by a crash
    with caplog.at_level(logging.WARNING):
        spool = Spool(tmp_path, SMALL)
    assert "torn or corrupt" in caplog.text and last.name in caplog.text
    assert last.stat().st_size == size - 108
    fill(spool, 1, start=1000)  # appends after the cut are readable
    assert drain(spool) == [payload(i) for i in range(49)] + [payload(1000)]
    spool.close()


def test_a_bad_checksum_on_the_last_record_drops_only_that_record(tmp_path):
    spool = Spool(tmp_path, SMALL)
    fill(spool, 50)
    spool.close()
    last = segments(tmp_path)[-1]
    data = bytearray(last.read_bytes())
    data[-10] ^= 0xFF  # a flipped byte in the last payload
    last.write_bytes(bytes(data))
    spool = Spool(tmp_path, SMALL)
    assert spool.backlog == 49
    assert drain(spool) == [payload(i) for i in range(49)]
    spool.close()


def test_a_torn_header_in_a_fresh_segment_is_truncated_to_empty(tmp_path):
    spool = Spool(tmp_path, SMALL)
    fill(spool, 40)  # the 38th record opened a second segment
    spool.close()
    last = segments(tmp_path)[-1]
    with open(last, "ab") as f:
        f.write(b"\x07\x00")  # two bytes of a header, then the crash
    spool = Spool(tmp_path, SMALL)
    assert drain(spool) == [payload(i) for i in range(40)]
    spool.close()


def test_the_cap_drops_the_oldest_segment_and_counts_its_records(tmp_path, caplog):
    options = SpoolOptions(segment_bytes=4096, max_bytes=3 * 4096, fsync=FsyncPolicy.NEVER)
    spool = Spool(tmp_path, options)
    fill(spool, 113)  # 37 records (3996 bytes) a segment: 113 * 108 = 12204 bytes fit in 12288
    assert spool.dropped_records == 0
    with caplog.at_level(logging.WARNING):
        fill(spool, 1, start=113)  # 12312 bytes would not: the oldest segment goes
    assert spool.dropped_records == 37
    assert "dropped the oldest segment with 37 undelivered record(s)" in caplog.text
    assert sum(p.stat().st_size for p in segments(tmp_path)) <= options.max_bytes
    assert spool.backlog == 77
    spool.close()
    spool = Spool(tmp_path, options)  # the cursor moved past the dropped segment
    assert drain(spool) == [payload(i) for i in range(37, 114)]
    spool.close()


def test_records_handed_out_before_a_drop_are_not_counted_as_dropped(tmp_path):
    options = SpoolOptions(segment_bytes=4096, max_bytes=3 * 4096, fsync=FsyncPolicy.NEVER)
    spool = Spool(tmp_path, options)
    fill(spool, 113)
    in_flight = spool.read(10)  # a request is on its way with these
    fill(spool, 1, start=113)
    assert spool.dropped_records == 27
    spool.ack(in_flight)  # delivered after all
    assert drain(spool) == [payload(i) for i in range(37, 114)]
    assert spool.backlog == 0
    spool.close()


def test_an_unreadable_cursor_resends_everything_on_disk(tmp_path, caplog):
    spool = Spool(tmp_path, SMALL)
    fill(spool, 10)
    spool.ack(spool.read(4))
    spool.close()
    (tmp_path / "cursor.json").write_text("")  # a rename that reached the disk before its data
    with caplog.at_level(logging.WARNING):
        spool = Spool(tmp_path, SMALL)
    assert "unreadable" in caplog.text
    assert drain(spool) == [payload(i) for i in range(10)]
    spool.close()


def test_a_second_process_cannot_open_the_same_spool(tmp_path):
    spool = Spool(tmp_path, SMALL)
    with pytest.raises(SinkError, match=f"spool {tmp_path} is in use by another process"):
        Spool(tmp_path, SMALL)
    spool.close()
    Spool(tmp_path, SMALL).close()


def test_a_record_larger_than_a_segment_is_refused_with_the_sizes(tmp_path):
    spool = Spool(tmp_path, SMALL)
    with pytest.raises(SinkError, match="a record of 5008 bytes does not fit in a segment of 4096 bytes"):
        spool.append(b"x" * 5000)
    spool.close()


def test_an_unusable_directory_is_a_sink_error_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the spool directory should be")
    with pytest.raises(SinkError, match=f"spool {blocker / 'spool'}: cannot be opened"):
        Spool(blocker / "spool", SMALL)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"segment_bytes": 100}, "segment_bytes must be at least 4096"),
        ({"segment_bytes": 8192, "max_bytes": 10000}, "must hold at least two segments"),
        ({"fsync_interval_ms": 0}, "fsync_interval_ms must be positive"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        SpoolOptions(**options)


def test_damage_inside_an_older_segment_keeps_the_records_before_it_and_the_later_segments(tmp_path):
    spool = Spool(tmp_path, SMALL)
    fill(spool, 80)  # segments of 37, 37, 6 records
    spool.close()
    first = segments(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[10 * 108 + 20] ^= 0xFF  # record 10's payload
    first.write_bytes(bytes(data))
    spool = Spool(tmp_path, SMALL)
    assert drain(spool) == [payload(i) for i in range(10)] + [payload(i) for i in range(37, 80)]
    spool.close()


def test_damage_found_while_reading_skips_the_rest_of_that_segment_and_counts_it(tmp_path, caplog):
    spool = Spool(tmp_path, SMALL)
    fill(spool, 80)
    first = segments(tmp_path)[0]
    with open(first, "r+b") as f:  # rots on disk after the spool checked it
        f.seek(5 * 108 + 20)
        f.write(b"\xff")
    with caplog.at_level(logging.ERROR):
        got = drain(spool)
    assert got == [payload(i) for i in range(5)] + [payload(i) for i in range(37, 80)]
    assert spool.dropped_records == 32 and spool.backlog == 0
    assert f"{first.name} offset {5 * 108} is corrupt" in caplog.text
    spool.close()


@pytest.mark.parametrize(("policy", "synced_at_once"), [("always", True), ("interval", False), ("never", False)])
def test_fsync_policies_decide_when_appends_reach_the_disk(tmp_path, policy, synced_at_once):
    spool = Spool(tmp_path, SpoolOptions(fsync=FsyncPolicy(policy), fsync_interval_ms=200))
    spool.append(b"one")
    assert spool.needs_sync is not synced_at_once
    if policy == "interval":
        time.sleep(0.25)
        spool.append(b"two")  # the interval has passed: this append syncs both
        assert not spool.needs_sync
    spool.close()
