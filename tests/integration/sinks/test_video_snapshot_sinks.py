"""The annotated video and snapshot sinks on real frames and the real nudenet YOLOv8n's detections,
read back with PyAV and OpenCV; and `vigil run` writing both."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import FACE_CLASSES, decoded_frame_count, photo
from tests.support.results import T0
from vigil import Frame
from vigil.engine import AutoModel, Detections
from vigil.errors import ConfigError, MissingDependencyError, SinkError
from vigil.pipeline.fanout import Fanout, Outlet
from vigil.result import InferenceResult, Timings
from vigil.sinks import AnnotatedVideoSink, ResultFilter, SnapshotSink
from vigil.sinks._annotate import Annotator
from vigil.sinks.records import result_to_record

TIMINGS = Timings(queue=1.0, pre_process=2.0, infer=3.0, post_process=0.5, total=7.0)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.resize(photo("astronaut"), (640, 480), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def faces(nudenet_path: Path, astronaut: np.ndarray) -> Detections:
    """What the real YOLOv8n finds in the photo: at least one face."""
    model = AutoModel.from_pretrained(nudenet_path)
    try:
        dets = model([astronaut])[0]
    finally:
        model.close()
    assert any(name in FACE_CLASSES for name in dets.class_name), dets
    return dets


def results(
    image: np.ndarray, dets: Detections, times: Sequence[float], source: str = "cam1", pts: Sequence[float] | None = None
) -> list[InferenceResult]:
    """Frame i of `source` captured `times[i]` s after T0, with PTS `pts[i]` (default: the same)."""
    pts = times if pts is None else pts
    return [
        InferenceResult(Frame(source, i, p, T0 + timedelta(seconds=t), image), "320n", dets, TIMINGS)
        for i, (t, p) in enumerate(zip(times, pts))
    ]


async def run_sink(sink: AnnotatedVideoSink | SnapshotSink, published: Sequence[InferenceResult]) -> None:
    await sink.start()
    try:
        for result in published:
            await sink.publish(result)
            await sink.flush()  # at a pace the sink keeps up with: dropping has a test of its own
    finally:
        await sink.close()


def decode(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.mp4"))


async def test_video_decodes_with_every_frame_its_timing_and_the_boxes_drawn(tmp_path, astronaut, faces):
    times = [0, 1 / 30, 2 / 30, 5 / 30, 6 / 30, 0.5, 0.5 + 1 / 30]  # variable rate, frames missing
    sink = AnnotatedVideoSink(tmp_path)
    await run_sink(sink, results(astronaut, faces, times))

    [path] = segments(tmp_path / "cam1")
    assert path.name == "cam1_20261124T003112Z.mp4"
    frames = decode(path)
    assert len(frames) == sink.written == len(times) and sink.dropped == 0
    assert [f.time for f in frames] == pytest.approx(times, abs=1 / 90_000)
    x1, y1, x2, y2 = faces.xyxy[0].round().astype(int)
    for frame in frames:
        image = frame.to_ndarray(format="bgr24")
        assert image.shape == (480, 640, 3)
        diff = np.abs(image.astype(int) - astronaut.astype(int)).mean(axis=2)
        # The box's left edge was drawn over the picture; the bottom-left corner is only re-encoded.
        assert diff[y1 + 5 : y2 - 5, x1 - 1 : x1 + 2].mean() > 40
        assert diff[380:470, 10:100].mean() < 6


async def test_segments_roll_by_capture_time_per_source(tmp_path, astronaut, faces):
    times = [i * 0.1 for i in range(15)]  # 0 .. 1.4 s; segments of 0.6 s start at 0, 0.6 and 1.2 s
    cam1, cam2 = results(astronaut, faces, times, "cam1"), results(astronaut, Detections.empty(), times[:4], "cam2")
    sink = AnnotatedVideoSink(tmp_path, segment_minutes=0.01)
    await run_sink(sink, [*cam1, *cam2])

    names = [p.name for p in segments(tmp_path / "cam1")]
    # Two segments started within 00:31:12: the second gets a suffix that sorts after the first.
    assert names == ["cam1_20261124T003112Z.mp4", "cam1_20261124T003112Z_2.mp4", "cam1_20261124T003113Z.mp4"]
    counts = [len(decode(p)) for p in segments(tmp_path / "cam1")]
    assert counts == [6, 6, 3]
    assert [len(decode(p)) for p in segments(tmp_path / "cam2")] == [4]
    assert sum(counts) + 4 == sink.written == len(cam1) + len(cam2)


@pytest.mark.parametrize(
    ("sizes", "pts", "expected"),
    [
        # The frame size changes: a new segment; odd sides are padded to even for yuv420p.
        ([(640, 480)] * 3 + [(321, 241)] * 2, None, [((640, 480), 3), ((322, 242), 2)]),
        # The PTS clock goes back (a camera reconnected): a new segment, timing kept in both.
        ([(640, 480)] * 5, [0.0, 0.1, 0.2, 0.05, 0.15], [((640, 480), 3), ((640, 480), 2)]),
    ],
)
async def test_a_new_segment_starts_when_size_or_clock_changes(tmp_path, astronaut, faces, sizes, pts, expected):
    times = [i * 0.1 for i in range(len(sizes))]
    published = [
        InferenceResult(
            Frame("cam1", i, (pts or times)[i], T0 + timedelta(seconds=t), cv2.resize(astronaut, size)), "320n", faces, TIMINGS
        )
        for i, (t, size) in enumerate(zip(times, sizes))
    ]
    await run_sink(AnnotatedVideoSink(tmp_path), published)
    found = []
    for path in segments(tmp_path / "cam1"):
        frames = decode(path)
        found.append(((frames[0].width, frames[0].height), len(frames)))
        assert frames[0].time == 0 and all(a.time < b.time for a, b in zip(frames, frames[1:]))
    assert found == expected


async def test_a_segment_is_partial_until_closed(tmp_path, astronaut, faces):
    sink = AnnotatedVideoSink(tmp_path)
    await sink.start()
    # Enough frames for the encoder to have written some: the file exists from its first packet.
    for result in results(astronaut, faces, [i / 30 for i in range(60)]):
        await sink.publish(result)
        await sink.flush()
    folder = tmp_path / "cam1"
    assert [p.name for p in folder.iterdir()] == ["cam1_20261124T003112Z.mp4.partial"]
    await sink.close()
    assert [p.name for p in folder.iterdir()] == ["cam1_20261124T003112Z.mp4"]
    assert len(decode(folder / "cam1_20261124T003112Z.mp4")) == 60


CRASHING_WRITER = """
import asyncio, dataclasses, sys, time
import cv2, numpy as np
from tests.conftest import photo
from tests.integration.sinks.test_video_snapshot_sinks import results
from vigil.engine import Detections
from vigil.sinks import AnnotatedVideoSink

async def main():
    sink = AnnotatedVideoSink(sys.argv[1], annotate=False)
    await sink.start()
    image = cv2.resize(photo("astronaut"), (640, 480))
    for i, result in enumerate(results(image, Detections.empty(), [i / 15 for i in range(90)])):
        moving = dataclasses.replace(result.frame, image=np.roll(image, 4 * i, axis=1))  # every frame costs bits
        await sink.publish(dataclasses.replace(result, frame=moving))
        await sink.flush()
    print("written", flush=True)
    time.sleep(60)  # killed here: the segment is never closed

asyncio.run(main())
"""


def test_a_segment_cut_short_by_a_kill_still_plays_up_to_its_last_fragment(tmp_path):
    """SIGKILL mid-segment (a crash, the OOM killer, a power cut): the .mp4.partial is a fragmented
    MP4, so everything but its last second or so decodes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(tmp_path)],
        cwd=Path(__file__).resolve().parents[3],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    finally:
        proc.kill()
        proc.communicate()
    (partial,) = (tmp_path / "cam1").glob("*.mp4.partial")
    decoded = 0
    with av.open(str(partial)) as container:
        try:
            for packet in container.demux(video=0):
                decoded += len(packet.decode())
        except av.FFmpegError:
            pass  # the fragment the kill cut short
    print(f"{decoded} of 90 frames decodable after SIGKILL")
    assert 45 <= decoded <= 90  # 6 s were written: at least the first 3 s play


async def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path, astronaut, faces, caplog):
    published = results(astronaut, faces, [i / 30 for i in range(200)])
    sink = AnnotatedVideoSink(tmp_path, queue_size=1)
    await sink.start()
    with caplog.at_level(logging.WARNING, logger="vigil.sinks"):
        t0 = time.perf_counter()
        for result in published:
            await sink.publish(result)
        publish_s = time.perf_counter() - t0
        await sink.close()
    assert publish_s < 0.5  # 200 frames; encoding one takes milliseconds
    assert sink.dropped > 0 and sink.written + sink.dropped == len(published)
    [path] = segments(tmp_path / "cam1")
    assert len(decode(path)) == sink.written
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("dropping results of source 'cam1'" in w for w in warnings) == 1
    assert any(f"{sink.dropped} result(s) dropped" in w for w in warnings)


async def test_snapshots_are_jpegs_with_their_record_once_per_interval(tmp_path, astronaut, faces):
    times = [i * 0.1 for i in range(25)]  # 0 .. 2.4 s
    cam1 = results(astronaut, faces, times, "cam1")
    nothing = results(astronaut, Detections.empty(), times, "cam2")
    # cam3 has a face only from 0.5 s on: its first snapshot is taken then.
    cam3 = [*results(astronaut, Detections.empty(), times[:5], "cam3"), *results(astronaut, faces, times, "cam3")[5:]]
    sink = SnapshotSink(tmp_path, interval_s=1.0)
    await run_sink(sink, [r for trio in zip(cam1, nothing, cam3) for r in trio])

    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam1", "cam3"]
    expected = {"cam1": [0, 10, 20], "cam3": [5, 15]}
    by_seq = {(r.frame.source_id, r.frame.seq): r for r in [*cam1, *cam3]}
    for source, seqs in expected.items():
        folder = tmp_path / source
        jpegs, sidecars = sorted(folder.glob("*.jpg")), sorted(folder.glob("*.json"))
        assert [p.stem for p in jpegs] == [p.stem for p in sidecars]
        assert len(list(folder.iterdir())) == 2 * len(seqs)  # no temporary file left
        records = [json.loads(p.read_text()) for p in sidecars]
        assert [r["seq"] for r in records] == seqs
        for jpeg, record in zip(jpegs, records):
            result = by_seq[(source, record["seq"])]
            assert record == result_to_record(result)
            capture = datetime.fromisoformat(record["capture_time"].replace("Z", "+00:00"))
            assert jpeg.name == f"{source}_{capture:%Y%m%dT%H%M%S}.{capture.microsecond // 1000:03d}Z.jpg"
            image = cv2.imdecode(np.frombuffer(jpeg.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
            assert image is not None and image.shape == (480, 640, 3)
    assert sink.written == 5 and sink.dropped == 0


async def test_a_snapshot_filter_applies_first(tmp_path, astronaut, faces):
    weak = SnapshotSink(tmp_path / "none", name="weak")
    strong = SnapshotSink(tmp_path / "some", annotate=False, name="strong")
    # The fanout applies each sink's filter before its publish.
    fanout = Fanout([Outlet(weak, ResultFilter(min_confidence=0.999)), Outlet(strong, ResultFilter(classes=FACE_CLASSES))])
    await fanout.start()
    for result in results(astronaut, faces, [0, 0.1]):
        await fanout.publish(result)
    await fanout.flush()
    await fanout.close()
    assert weak.written == 0 and not any((tmp_path / "none").iterdir())
    [sidecar] = (tmp_path / "some" / "cam1").glob("*.json")
    assert {d["class_name"] for d in json.loads(sidecar.read_text())["detections"]} <= FACE_CLASSES
    jpeg = cv2.imread(str(sidecar.with_suffix(".jpg")))
    assert np.abs(jpeg.astype(int) - astronaut.astype(int)).mean() < 4  # not annotated: the frame as it was


def test_masks_and_visible_keypoints_are_drawn(astronaut):
    mask = np.zeros((1, 480, 640), bool)
    mask[0, 300:400, 100:300] = True
    keypoints = np.array([[[150, 320], [250, 380], [600, 50]]], np.float32)
    dets = Detections(
        xyxy=np.array([[100, 300, 300, 400]], np.float32),
        confidence=[0.8],
        class_id=[0],
        data={"class_name": np.array(["person"])},
        mask=mask,
        keypoints=keypoints,
        keypoint_confidence=np.array([[0.9, 0.9, 0.1]], np.float32),
    )
    drawn = Annotator("test").draw(astronaut, dets)
    diff = np.abs(drawn.astype(int) - astronaut.astype(int)).sum(axis=2)
    assert (diff[340:360, 180:220] > 0).all()  # inside the mask, away from box and points
    assert diff[320, 150] > 0 and diff[380, 250] > 0  # the confident keypoints
    assert diff[50, 600] == 0  # the hidden one (confidence 0.1) is not drawn
    assert (diff[:250] == 0).sum() > 0.99 * 250 * 640  # nothing far from the detection


async def test_without_supervision_annotating_sinks_say_what_to_install(tmp_path, astronaut, faces, monkeypatch):
    monkeypatch.setitem(sys.modules, "supervision", None)  # makes `import supervision` fail
    for sink in (AnnotatedVideoSink(tmp_path / "v"), SnapshotSink(tmp_path / "s")):
        with pytest.raises(MissingDependencyError, match=r"pip install 'vigil-analytics\[supervision\]'"):
            await sink.start()
    plain = AnnotatedVideoSink(tmp_path / "plain", annotate=False)
    await run_sink(plain, results(astronaut, faces, [0, 0.1]))
    assert len(decode(segments(tmp_path / "plain" / "cam1")[0])) == 2


async def test_bad_settings_and_unwritable_directories_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="'mp3' is not a video encoder"):
        AnnotatedVideoSink(tmp_path, codec="mp3")
    with pytest.raises(ConfigError, match="segment_minutes"):
        AnnotatedVideoSink(tmp_path, segment_minutes=0)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(SinkError, match=f"cannot create directory {blocker / 'snaps'}"):
        await SnapshotSink(blocker / "snaps", annotate=False).start()


async def test_a_write_error_is_counted_and_reported_and_the_sink_keeps_running(tmp_path, astronaut, faces, caplog):
    (tmp_path / "cam1").write_text("a file where the source's folder should go")
    sink = AnnotatedVideoSink(tmp_path, annotate=False)
    await sink.start()
    first, second = results(astronaut, faces, [0, 0.1])
    with caplog.at_level(logging.WARNING, logger="vigil.sinks"):
        await sink.publish(first)
        await sink.flush()
        await sink.publish(second)  # no raise: the sink never stops for good
        await sink.flush()
        health, stats = sink.health(), sink.stats()
        await sink.close()
    assert (
        not health.ok
        and f"cannot create directory {tmp_path / 'cam1'}" in (health.reason or "")
        and "retrying" in (health.reason or "")
    )
    assert stats.errors == 1 and stats.dropped == 2 and stats.dropped_by_reason["write_error"] == 2  # one tried, one in backoff
    [error] = [r.getMessage() for r in caplog.records]  # rate-limited: one report
    assert f"cannot create directory {tmp_path / 'cam1'}" in error and "retrying in" in error


def test_vigil_run_writes_video_and_snapshots(tmp_path, clips, nudenet_path):
    video, snaps = tmp_path / "video", tmp_path / "snaps"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil",
            "run",
            "--model",
            str(nudenet_path),
            "--source",
            str(clips["astronaut"]),
            "--video-dir",
            str(video),
            "--snapshot-dir",
            str(snaps),
            "--snapshot-interval-s",
            "0.25",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    [path] = segments(video / "astronaut")
    frames = decode(path)
    assert len(frames) == decoded_frame_count(clips["astronaut"]) == 24
    assert (frames[0].width, frames[0].height) == (640, 480)
    sidecars = sorted((snaps / "astronaut").glob("*.json"))
    # 24 frames at 30 fps span 0.77 s: snapshots at 0, 0.27 and 0.53 s (every frame has a face).
    assert [json.loads(p.read_text())["seq"] for p in sidecars] == [0, 8, 16]
    for sidecar in sidecars:
        image = cv2.imread(str(sidecar.with_suffix(".jpg")))
        assert image is not None and image.shape == (480, 640, 3)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--out", "r.jsonl", "--video-segment-minutes", "2"], "--video-segment-minutes goes with --video-dir DIR"),
        (["--out", "r.jsonl", "--snapshot-interval-s", "2"], "--snapshot-interval-s with --snapshot-dir DIR"),
        (["--video-dir", "v", "--video-segment-minutes", "0"], "video.segment_minutes"),
    ],
)
def test_video_and_snapshot_flags_are_checked(tmp_path, flags, message):
    proc = subprocess.run(
        [sys.executable, "-m", "vigil", "run", "--model", "m.onnx", "--source", "x.mp4", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and message in proc.stderr
