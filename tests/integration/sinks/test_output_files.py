"""Output files are not for every account on the machine: under the common umask 022, what the
sinks, the clips, the spool and the search store make is 0640 and their directories 0750; a
symbolic link planted where an output file goes is refused, naming the path, never followed."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.sinks.test_disk_full import camera, noisy  # noqa: F401
from tests.support.results import make_result
from tests.unit.clips.test_recorder import START, feed
from vigil.clips import ClipRecorder
from vigil.config.clips import ClipsConfig
from vigil.errors import ConfigError, SinkError
from vigil.sinks.files import utc_stamp
from vigil.sinks.jsonl import JsonlSink
from vigil.sinks.snapshot import SnapshotSink
from vigil.sinks.spool import Spool
from vigil.sinks.video import AnnotatedVideoSink
from vigil.store.search import VectorStore


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes(root: Path) -> dict[str, int]:
    """The permission bits of everything under `root` (not `root` itself), by relative path."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in root.rglob("*")}


def assert_private(root: Path) -> None:
    found = modes(root)
    assert found, f"nothing written under {root}"
    for name, mode in found.items():
        expected = 0o750 if (root / name).is_dir() else 0o640
        assert mode == expected, f"{name} is {mode:o}, not {expected:o}"


async def test_every_output_file_is_0640_and_every_directory_0750(tmp_path, umask_022, camera):  # noqa: F811
    jsonl = JsonlSink(tmp_path / "jsonl" / "deep" / "r.jsonl")
    snaps = SnapshotSink(tmp_path / "snaps", interval_s=0, annotate=False)
    video = AnnotatedVideoSink(tmp_path / "video", annotate=False)
    for sink in (jsonl, snaps, video):
        await sink.start()
        for seq in range(3):
            await sink.publish(noisy(seq))
        await sink.close()
    with Spool(tmp_path / "spool" / "hook") as spool:
        spool.append(b'{"id": "1"}')
        spool.ack(spool.read(1))
    clips = ClipRecorder("cam", ClipsConfig(directory=str(tmp_path / "clips"), pre_roll_s=0.5, post_roll_s=0.5))
    path: list[str | None] = []
    feed(
        clips,
        camera,
        until=4.0,
        actions={
            1.0: lambda: path.append(clips.open(1, start_pts=1.0, start_time=START)),
            2.0: lambda: clips.close(1, end_pts=2.0),
        },
    )
    assert clips.flush(30) and path[0] and Path(path[0]).is_file()
    (tmp_path / "state").mkdir(mode=0o750)
    VectorStore(str(tmp_path / "state" / "search.sqlite"), 4, 10).close()
    for folder in ("jsonl", "snaps", "video", "spool", "clips", "state"):
        assert_private(tmp_path / folder)


async def test_a_link_at_the_jsonl_path_is_refused_and_its_target_left_alone(tmp_path):
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0\n")
    (tmp_path / "r.jsonl").symlink_to(target)
    with pytest.raises(SinkError, match=f"{tmp_path / 'r.jsonl'} is a symbolic link"):
        await JsonlSink(tmp_path / "r.jsonl").start()
    assert target.read_text() == "root:x:0:0\n"


async def test_a_link_at_a_snapshot_path_is_refused_and_its_target_left_alone(tmp_path):
    target = tmp_path / "precious.jpg"
    target.write_bytes(b"untouched")
    result = make_result("cam", 0)
    folder = tmp_path / "snaps" / "cam"
    folder.mkdir(parents=True)
    planted = folder / f"cam_{utc_stamp(result.frame.capture_time, milliseconds=True)}.jpg"
    planted.symlink_to(target)
    sink = SnapshotSink(tmp_path / "snaps", interval_s=0, annotate=False)
    await sink.start()
    await sink.publish(result)
    await sink.flush()
    health = sink.health()
    await sink.close()
    assert target.read_bytes() == b"untouched" and planted.is_symlink()
    assert not health.ok and f"{planted} is a symbolic link" in (health.reason or "")
    assert sink.stats().dropped_by_reason["write_error"] == 1


def test_a_link_at_a_spool_segment_is_refused_and_its_target_left_alone(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"untouched")
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    segment = spool_dir / f"{0:020d}.seg"
    segment.symlink_to(target)
    with pytest.raises(SinkError, match=f"{segment} is a symbolic link"):
        Spool(spool_dir)
    assert target.read_bytes() == b"untouched"


def test_a_link_at_the_search_store_is_refused(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"untouched")
    (tmp_path / "search.sqlite").symlink_to(target)
    with pytest.raises(ConfigError, match="search.database .*search.sqlite.*symbolic link"):
        VectorStore(str(tmp_path / "search.sqlite"), 4, 10)
    assert target.read_bytes() == b"untouched"


def test_the_clip_being_written_is_never_a_planted_link(tmp_path, camera):  # noqa: F811
    target = tmp_path / "target"
    target.write_bytes(b"untouched")
    clips = ClipRecorder("cam", ClipsConfig(directory=str(tmp_path / "clips"), pre_roll_s=0.5, post_roll_s=0.5))
    path = clips._path(1, START)  # where the clip of object 1 goes
    path.parent.mkdir(parents=True)
    partial = path.with_name(path.name + ".partial")
    os.symlink(target, partial)  # planted after the name was chosen
    clips._path = lambda tracker_id, start_time: path  # type: ignore[method-assign]
    feed(
        clips,
        camera,
        until=4.0,
        actions={
            1.0: lambda: clips.open(1, start_pts=1.0, start_time=START),
            2.0: lambda: clips.close(1, end_pts=2.0),
        },
    )
    assert clips.flush(30)
    assert target.read_bytes() == b"untouched" and not path.exists()
    assert clips.stats().dropped_by_reason["write_error"] == 1
    assert "symbolic link" in (clips.health().reason or "")
