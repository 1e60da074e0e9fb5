"""Every sink on a real 4 MiB tmpfs that is filled during the run and freed again: writes fail
with ENOSPC, the sink keeps running, counts what it drops with the reason `disk_full`, is not
healthy while it lasts, and writes again by itself once the space is back (nothing torn)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

from tests.integration.sinks.test_webhook_sink import fast_options, receiver  # noqa: F401
from tests.support.results import make_result
from tests.support.tmpfs import fill, free, tmpfs
from tests.unit.clips.test_recorder import START, feed
from vigil.clips import ClipRecorder
from vigil.config.clips import ClipsConfig
from vigil.daemon.metrics import PrometheusMetrics
from vigil.daemon.readiness import _sink_checks
from vigil.errors import SinkError
from vigil.pipeline import PipelineSnapshot
from vigil.pipeline.fanout import Fanout
from vigil.result import InferenceResult
from vigil.sinks import WebhookSink
from vigil.sinks.base import Sink
from vigil.sinks.jsonl import JsonlSink
from vigil.sinks.snapshot import SnapshotSink
from vigil.sinks.spool import FsyncPolicy, Spool, SpoolOptions
from vigil.sinks.video import AnnotatedVideoSink

DISK = 4 * 2**20


@pytest.fixture
def disk() -> Iterator[Path]:
    with tmpfs(DISK) as path:
        yield path


async def until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        await asyncio.sleep(0.02)


def noisy(seq: int) -> InferenceResult:
    """A result whose picture encodes to some kilobytes (a black one is nearly nothing)."""
    result = make_result("cam", seq)
    image = np.random.default_rng(seq).integers(0, 255, (96, 128, 3), np.uint8)
    return InferenceResult(
        result.frame.__class__(result.frame.source_id, seq, result.frame.pts, result.frame.capture_time, image),
        result.model_id,
        result.detections,
        result.timings,
    )


async def publish_until_failing(sink: Sink, first_seq: int, limit: int = 3000) -> int:
    """Publish results from `first_seq` until the sink reports the disk full; the next seq."""
    seq = first_seq
    while sink.stats().dropped_by_reason.get("disk_full", 0) == 0:
        assert seq - first_seq < limit, f"{sink.name}: no write failed on a full disk"
        await sink.publish(noisy(seq))
        seq += 1
        await asyncio.sleep(0.005)
    return seq


def exposition(sink: Sink) -> str:
    metrics = PrometheusMetrics()
    metrics.observe(lambda: PipelineSnapshot({}, {}, {}), lambda: Fanout([sink]).outlets)
    return metrics.exposition().decode()


def metric(text: str, line_start: str) -> float:
    [value] = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)]
    return value


async def test_jsonl_holds_lines_while_the_disk_is_full_and_writes_them_once_it_is_freed(disk):
    out = disk / "out" / "results.jsonl"
    sink = JsonlSink(out, queue_size=32, name="lines")
    await sink.start()
    try:
        for seq in range(20):
            await sink.publish(make_result("cam", seq))
        await sink.flush()
        fill(disk)
        seq = 20
        while sink.faults.current is None:  # the file's last page takes a few lines more
            assert seq < 2000, "no write failed on a full disk"
            await sink.publish(make_result("cam", seq))
            seq += 1
            await asyncio.sleep(0.002)
        for _ in range(200):  # while it lasts: the queue and batch fill, the rest is dropped (counted)
            await asyncio.wait_for(sink.publish(make_result("cam", seq)), 5)  # never blocks the pipeline
            seq += 1
        during = sink.health()
        [check] = _sink_checks([sink]).values()
        text = exposition(sink)
        free(disk)
        after_free = seq
        await until(lambda: sink.faults.current is None, what="the sink writing again")
        for _ in range(20):
            await sink.publish(make_result("cam", seq))
            seq += 1
        await asyncio.wait_for(sink.flush(), 30)
        assert sink.health().ok
    finally:
        await sink.close()
    stats = sink.stats()
    assert not during.ok and "disk full (ENOSPC)" in (during.reason or "") and "retrying" in (during.reason or "")
    assert not check.ok and check.dropped_by_reason["disk_full"] > 0
    assert metric(text, 'vigil_sink_dropped_total{kind="jsonl",reason="disk_full",sink="lines"}') > 0
    assert metric(text, 'vigil_sink_errors_total{kind="jsonl",sink="lines"}') > 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]  # every line whole
    seqs = [r["seq"] for r in lines]
    assert seqs == sorted(set(seqs))  # in order, no line twice
    assert set(range(20)) | set(range(after_free, seq)) <= set(seqs)  # before the fault and after it: all
    assert len(seqs) + stats.dropped_by_reason["disk_full"] == seq  # the rest counted, with its reason
    assert stats.published == len(seqs) and stats.errors > 0


@pytest.mark.parametrize("kind", ["snapshot", "video"])
async def test_picture_sinks_drop_frames_while_the_disk_is_full_and_write_again_after(disk, kind):
    if kind == "snapshot":
        sink: SnapshotSink | AnnotatedVideoSink = SnapshotSink(disk / "pics", interval_s=0, annotate=False, name="pics")
    else:
        sink = AnnotatedVideoSink(disk / "pics", annotate=False, segment_minutes=0.01, name="pics")
    await sink.start()
    try:
        for seq in range(5):
            await sink.publish(noisy(seq))
            await sink.flush()
        fill(disk)
        seq = await publish_until_failing(sink, 5)
        await sink.flush()
        during = sink.health()
        written_during = sink.written
        free(disk)
        await asyncio.sleep(0.3)
        end = seq + 400
        while sink.written <= written_during or not sink.health().ok:  # backoff runs out, writes work
            assert seq < end, f"{kind} never wrote again after the disk was freed"
            await sink.publish(noisy(seq))
            await sink.flush()
            seq += 1
            await asyncio.sleep(0.02)
    finally:
        await sink.close()
    stats = sink.stats()
    assert not during.ok and "disk full (ENOSPC)" in (during.reason or "")
    assert stats.dropped_by_reason["disk_full"] > 0 and stats.errors > 0
    assert stats.published + stats.dropped == seq  # every frame written or counted
    folder = disk / "pics" / "cam"
    if kind == "snapshot":
        pictures = sorted(folder.glob("*.jpg"))
        assert len(pictures) >= stats.published - 1  # the one being written at the fault may be lost
        assert all(p.read_bytes()[:2] == b"\xff\xd8" for p in pictures)
    else:
        newest = sorted(folder.glob("*.mp4"))[-1]
        with av.open(str(newest)) as container:  # a segment written after the space came back plays
            assert sum(1 for _ in container.decode(video=0)) >= 1


async def test_the_webhook_delivers_every_result_spooled_around_a_full_disk(disk, receiver):  # noqa: F811
    r = await receiver()
    sink = WebhookSink(r.url, disk / "spool", options=fast_options(), name="hook")
    await sink.start()
    try:
        for seq in range(10):
            await sink.publish(make_result("cam", seq))
        await until(lambda: sink.delivered == 10, what="the first ten delivered")
        fill(disk)
        seq = 10
        while sink.stats().dropped_by_reason.get("disk_full", 0) < 5:  # refused appends, counted
            assert seq < 3000, "no append failed on a full disk"
            await sink.publish(make_result("cam", seq))
            seq += 1
            await asyncio.sleep(0.002)
        during = sink.health()
        text = exposition(sink)
        free(disk)
        after_free = seq
        for _ in range(10):
            await sink.publish(make_result("cam", seq))
            seq += 1
        refused = sink.stats().dropped_by_reason["disk_full"]
        await until(
            lambda: len({t["id"] for t in r.taken}) + refused == seq and sink.backlog == 0, what="every spooled result delivered"
        )
        await until(lambda: sink.health().ok, what="healthy again (the cursor saved)")
    finally:
        await sink.close()
    taken = {t["seq"] for t in r.taken}
    assert not during.ok and "disk full (ENOSPC)" in (during.reason or "")
    assert metric(text, 'vigil_sink_dropped_total{kind="webhook",reason="disk_full",sink="hook"}') >= 5
    assert metric(text, 'vigil_sink_errors_total{kind="webhook",sink="hook"}') > 0
    assert set(range(10)) | set(range(after_free, seq)) <= taken  # before and after the fault: all
    assert len(taken) + refused == seq  # what the spool refused is counted, the rest all arrived
    assert json.loads((disk / "spool" / "cursor.json").read_text())  # the cursor saved again


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of H.264 at 10 fps, a key frame every half second, noisy enough to take space."""
    path = tmp_path_factory.mktemp("camera") / "camera.mp4"
    rng = np.random.default_rng(7)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"g": "5", "keyint_min": "5", "sc_threshold": "0", "preset": "ultrafast"}
        for _ in range(120):
            image = rng.integers(0, 255, (120, 160, 3), np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def test_clips_are_counted_lost_while_the_disk_is_full_and_written_again_after(disk, camera):
    clips = ClipRecorder("cam", ClipsConfig(directory=str(disk / "clips"), pre_roll_s=0.5, post_roll_s=0.5))
    seen: dict[str, object] = {}
    paths: list[str | None] = []

    metrics = PrometheusMetrics()
    metrics.observe_clips(lambda: [SimpleNamespace(source_id="cam", clips=clips)])

    def settle(name: str) -> None:  # the decode thread waits for the clips closed so far
        assert clips.flush(30), "clips not written within 30 s"
        seen[name] = (clips.health(), clips.stats(), metrics.exposition().decode())

    def opened(tracker: int, at: float) -> Callable[[], None]:
        return lambda: paths.append(clips.open(tracker, start_pts=at, start_time=START))

    feed(
        clips,
        camera,
        actions={
            1.0: opened(1, 1.0),
            2.0: lambda: clips.close(1, end_pts=2.0),
            3.0: lambda: (settle("before"), fill(disk)),
            4.0: opened(2, 4.0),
            5.0: lambda: clips.close(2, end_pts=5.0),
            6.5: lambda: (settle("during"), free(disk)),
            8.0: opened(3, 8.0),
            9.0: lambda: clips.close(3, end_pts=9.0),
            10.5: lambda: settle("after"),
        },
    )
    before, during, after = (seen[k] for k in ("before", "during", "after"))
    assert before[0].ok and before[1].written == 1  # type: ignore[index, union-attr]
    assert not during[0].ok and "disk full (ENOSPC)" in during[0].reason  # type: ignore[index, union-attr, operator]
    assert during[1].dropped_by_reason["disk_full"] == 1  # type: ignore[index, union-attr]
    assert metric(during[2], 'vigil_clips_dropped_total{reason="disk_full",source="cam"}') == 1  # type: ignore[index, arg-type]
    assert metric(during[2], 'vigil_clips_healthy{source="cam"}') == 0  # type: ignore[index, arg-type]
    assert metric(after[2], 'vigil_clips_healthy{source="cam"}') == 1  # type: ignore[index, arg-type]
    assert after[0].ok and after[1].written == 2  # type: ignore[index, union-attr]
    first, lost, third = paths
    assert first and third and Path(first).is_file() and Path(third).is_file() and lost and not Path(lost).exists()
    with av.open(third) as container:  # written after the space came back: it plays
        assert sum(1 for _ in container.decode(video=0)) >= 10


def test_the_spool_refuses_appends_on_a_full_disk_and_keeps_what_it_holds(disk):
    spool = Spool(disk / "spool", SpoolOptions(fsync=FsyncPolicy.NEVER))
    for n in range(50):
        spool.append(json.dumps({"n": n}).encode())
    delivered = spool.read(10)
    fill(disk)
    appended, refused = 50, 0
    while refused < 3:  # the segment's last page takes a few more first
        assert appended < 5000, "no append failed on a full disk"
        try:
            spool.append(json.dumps({"n": appended}).encode())
            appended += 1
        except SinkError as exc:
            assert "cannot append a record (No space left on device)" in str(exc)
            refused += 1
    with pytest.raises(SinkError, match="cannot save the delivery cursor"):
        spool.ack(delivered)
    assert spool.cursor_unsaved and spool.backlog == appended - 10  # acknowledged in memory
    assert [json.loads(r.payload)["n"] for r in spool.read(5)] == [10, 11, 12, 13, 14]  # reading goes on
    free(disk)
    spool.save_cursor()
    assert not spool.cursor_unsaved
    spool.close()
    with Spool(disk / "spool") as reopened:  # nothing lost, nothing torn, the acknowledged ten gone
        assert [json.loads(r.payload)["n"] for r in reopened.read(10_000)] == list(range(10, appended))


async def test_a_sink_started_on_a_disk_with_no_room_for_its_file_starts_and_writes_once_there_is():
    with tmpfs(DISK, inodes=16) as small:
        fillers = []
        for n in range(64):  # every inode taken: no new file can be made (ENOSPC)
            try:
                (small / f".filler-{n}").touch()
            except OSError:
                break
            fillers.append(small / f".filler-{n}")
        sink = JsonlSink(small / "results.jsonl", name="lines")
        await sink.start()  # a shortage at start does not refuse the start: it is retried
        try:
            at_start = sink.health()
            for seq in range(5):
                await sink.publish(make_result("cam", seq))
            for filler in fillers:
                filler.unlink()
            await asyncio.wait_for(sink.flush(), 30)
            assert sink.health().ok
        finally:
            await sink.close()
        assert not at_start.ok and "disk full (ENOSPC)" in (at_start.reason or "")
        assert [json.loads(line)["seq"] for line in (small / "results.jsonl").read_text().splitlines()] == [0, 1, 2, 3, 4]
