"""LiveView on real results (the astronaut photo, real Detections), real supervision drawing,
real OpenCV JPEGs: encodes happen only for viewers, capped by fps, shared per (source, width)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
import pytest

from tests.unit.api.console.results import FACE_BOX, decode, face_result, picture
from vigil.api.console.live import LiveView
from vigil.engine import Detections, TextDetections
from vigil.result import InferenceResult, Overlay


@pytest.fixture
async def live() -> AsyncIterator[LiveView]:
    view = LiveView(fps=5.0, max_width=1280, quality=80)
    yield view
    view.close()


async def feed(live: LiveView, seconds: float, rate: float = 30.0, source: str = "cam1", start: int = 0) -> int:
    """Publish results at `rate` per second for `seconds`, as the pipeline would; returns the next seq."""
    n = int(seconds * rate)
    for i in range(start, start + n):
        live.published(face_result(source, i))
        await asyncio.sleep(1 / rate)
    return start + n


def region_diff(a: np.ndarray, b: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> float:
    return float(np.abs(a[y0:y1, x0:x1].astype(np.int16) - b[y0:y1, x0:x1].astype(np.int16)).mean())


async def test_no_viewer_means_no_encode_at_all(live: LiveView) -> None:
    for i in range(100):
        live.published(face_result("cam1", i))
    await asyncio.sleep(0.3)
    assert live.stats("cam1") == {"viewers": 0, "encoded": 0}
    assert live._executor is None, "the encode thread must not even exist without a viewer"
    assert live.frame_size("cam1") == (640, 480)


@pytest.mark.serial  # counts encodes over 1.5 s of real time
async def test_one_viewer_is_capped_by_fps_and_gets_the_asked_width(live: LiveView) -> None:
    received: list[bytes] = []

    async def watch() -> None:
        async with live.subscribe("cam1", 320) as frames:
            async for jpeg in frames:
                received.append(jpeg)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)
    assert live.stats("cam1")["viewers"] == 1
    await feed(live, 1.5)
    encoded = live.stats("cam1")["encoded"]
    # 45 results in 1.5 s at 5 fps: one at once, then one every 0.2 s -> 8 (a little slack for a busy box)
    assert 6 <= encoded <= 9, encoded
    assert 6 <= len(received) <= encoded
    image = decode(received[-1])
    assert image.shape == (240, 320, 3), "width 320 of a 640x480 frame keeps the 4:3 aspect"
    watcher.cancel()
    await asyncio.gather(watcher, return_exceptions=True)
    assert live.stats("cam1")["viewers"] == 0


async def test_the_box_is_drawn_and_annotate_off_gives_the_plain_frame(live: LiveView) -> None:
    live.published(face_result("cam1", 0))
    drawn = decode(await live.snapshot("cam1", 320) or b"")
    plain = decode(await live.snapshot("cam1", 320, annotate=False) or b"")
    x0, y0, x1, y1 = (int(v / 2) for v in FACE_BOX)  # the box in the half-size picture
    assert region_diff(drawn, plain, x0 - 1, y0 + 20, x0 + 2, y1 - 5) > 40, "the box's left edge is drawn"
    assert region_diff(drawn, plain, x0 + 1, y1 - 1, x1 - 1, y1 + 2) > 40, "its bottom edge too"
    assert region_diff(drawn, plain, 240, 150, 320, 240) < 3, "away from the box the frame is untouched"
    full_plain = decode(await live.snapshot("cam1", annotate=False) or b"")
    assert full_plain.shape == (480, 640, 3)
    assert region_diff(full_plain, picture(0), 0, 0, 640, 480) < 4, "annotate=0 is the frame itself (JPEG noise only)"
    assert live.stats("cam1") == {"viewers": 0, "encoded": 3}


async def test_the_frame_is_never_drawn_on(live: LiveView) -> None:
    result = face_result("cam1", 0)
    before = result.frame.image.copy()
    await live.snapshot("cam1")  # no frame yet
    live.published(result)
    for width in (None, 320):
        await live.snapshot("cam1", width)
    assert np.array_equal(result.frame.image, before), "sinks share the frame: the live view draws on a copy"


async def test_tracker_ids_and_zone_overlays_are_drawn(live: LiveView) -> None:
    zone = Overlay("door", "zone", ((400.0, 250.0), (620.0, 250.0), (620.0, 460.0), (400.0, 460.0)), "1")
    live.published(face_result("cam1", 0))
    untracked = decode(await live.snapshot("cam1") or b"")
    live.published(face_result("cam1", 0, tracker_id=7, overlays=(zone,)))
    tracked = decode(await live.snapshot("cam1") or b"")
    # The label "#7 FACE_FEMALE 0.87" is longer than "FACE_FEMALE 0.87": its band reaches further right.
    assert region_diff(tracked, untracked, 360, 15, 420, 40) > 20
    assert region_diff(tracked, untracked, 398, 300, 403, 420) > 40, "the zone's left side is drawn"
    assert region_diff(tracked, untracked, 0, 300, 200, 480) < 3


@pytest.mark.serial  # counts encodes over 1.5 s of real time
async def test_two_viewers_of_one_width_share_one_encoder(live: LiveView) -> None:
    got: dict[str, list[bytes]] = {"a": [], "b": []}

    async def watch(name: str) -> None:
        async with live.subscribe("cam1", 480) as frames:
            async for jpeg in frames:
                got[name].append(jpeg)

    watchers = [asyncio.create_task(watch(n)) for n in got]
    await asyncio.sleep(0)
    assert live.stats("cam1")["viewers"] == 2
    assert len(live._encoders["cam1"]) == 1
    await feed(live, 1.5)
    encoded = live.stats("cam1")["encoded"]
    assert 6 <= encoded <= 9, f"two viewers must not double the encodes: {encoded}"
    assert got["a"][-1] == got["b"][-1], "both viewers get the same JPEG"
    for w in watchers:
        w.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    assert live.stats("cam1")["viewers"] == 0 and "cam1" not in live._encoders


async def test_a_slow_viewer_gets_the_newest_frame_never_a_queue() -> None:
    live = LiveView(fps=50.0)
    try:
        frames = live.subscribe("cam1", 160)  # never reads while frames are encoded
        await feed(live, 1.0, rate=30)
        encoded = live.stats("cam1")["encoded"]
        assert encoded >= 10
        newest = await asyncio.wait_for(frames.__anext__(), 1)
        assert newest == live._encoders["cam1"][160].last, "the mailbox holds the newest JPEG"
        with pytest.raises(asyncio.TimeoutError):  # and nothing older waits behind it
            await asyncio.wait_for(frames.__anext__(), 0.3)
        frames.close()
        assert live.stats("cam1")["viewers"] == 0
    finally:
        live.close()


async def test_a_new_viewer_sees_a_picture_at_once(live: LiveView) -> None:
    live.published(face_result("cam1", 0))
    first = live.subscribe("cam1", 320)
    assert decode(await asyncio.wait_for(first.__anext__(), 2)).shape == (240, 320, 3)
    second = live.subscribe("cam1", 320)  # joins a running encoder: gets its last JPEG without a new result
    assert decode(await asyncio.wait_for(second.__anext__(), 0.5)).shape == (240, 320, 3)
    assert live.stats("cam1") == {"viewers": 2, "encoded": 1}
    first.close()
    second.close()


async def test_forget_ends_the_streams_of_that_source(live: LiveView) -> None:
    live.published(face_result("cam1", 0))
    live.published(face_result("cam2", 0))
    ends = {name: live.subscribe(name, 320) for name in ("cam1", "cam2")}
    for frames in ends.values():
        await asyncio.wait_for(frames.__anext__(), 2)
    live.forget("cam1")
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(ends["cam1"].__anext__(), 1)
    assert live.frame_size("cam1") is None and live.stats("cam1") == {"viewers": 0, "encoded": 0}
    assert live.stats("cam2")["viewers"] == 1
    assert live.totals() == {"viewers": 1, "encoded": 1}
    live.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(ends["cam2"].__anext__(), 1)


@pytest.mark.parametrize("width", [0, 15, 1281])
async def test_width_out_of_bounds_is_refused(live: LiveView, width: int) -> None:
    live.published(face_result("cam1", 0))
    with pytest.raises(ValueError, match="width must be from 16 to 1280"):
        live.subscribe("cam1", width)
    with pytest.raises(ValueError, match="width must be from 16 to 1280"):
        await live.snapshot("cam1", width)


async def test_never_wider_than_the_frame(live: LiveView) -> None:
    live.published(face_result("cam1", 0))
    assert decode(await live.snapshot("cam1", 1280) or b"").shape == (480, 640, 3)
    small = LiveView(max_width=200)
    try:
        small.published(face_result("cam1", 0))
        assert decode(await small.snapshot("cam1") or b"").shape == (150, 200, 3), "capped at max_width"
    finally:
        small.close()


async def test_without_supervision_the_plain_frame_and_one_warning(
    live: LiveView, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "supervision", None)  # `import supervision` raises ImportError
    live.published(face_result("cam1", 0))
    with caplog.at_level(logging.WARNING, logger="vigil.api.console.live"):
        first = decode(await live.snapshot("cam1") or b"")
        await live.snapshot("cam1")
    plain = decode(await live.snapshot("cam1", annotate=False) or b"")
    assert region_diff(first, plain, 0, 0, 640, 480) < 0.5
    warnings = [r for r in caplog.records if "without detections drawn" in r.getMessage()]
    assert len(warnings) == 1 and "pip install" in warnings[0].getMessage()


def _with(kind: str) -> InferenceResult:
    """The face result with its predictions as a mask, keypoints or an OCR line instead of a box only."""
    base = face_result("cam1", 0)
    x0, y0, x1, y1 = (int(v) for v in FACE_BOX)
    dets = base.detections
    assert isinstance(dets, Detections)
    if kind == "mask":
        mask = np.zeros((1, 480, 640), bool)
        mask[0, y0:y1, x0:x1] = True
        return replace(base, detections=replace(dets, mask=mask))
    if kind == "keypoints":
        points = np.array([[[x0 + 20, y0 + 60], [x1 - 20, y0 + 60], [(x0 + x1) / 2, y1 - 30]]], np.float32)
        return replace(base, detections=replace(dets, keypoints=points, keypoint_confidence=np.ones((1, 3), np.float32)))
    quad = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32)
    return replace(base, detections=TextDetections(quad, np.array(["HELLO"]), np.array([0.9], np.float32)))


@pytest.mark.parametrize("kind", ["mask", "keypoints", "text"])
async def test_masks_keypoints_and_text_are_drawn_at_a_smaller_width(live: LiveView, kind: str) -> None:
    live.published(_with(kind))
    drawn = decode(await live.snapshot("cam1", 320) or b"")
    plain = decode(await live.snapshot("cam1", 320, annotate=False) or b"")
    assert drawn.shape == plain.shape == (240, 320, 3)
    x0, y0, x1, y1 = (int(v / 2) for v in FACE_BOX)
    assert region_diff(drawn, plain, x0, y0, x1, y1) > 4, f"the {kind} is drawn over the face"
    assert region_diff(drawn, plain, 240, 150, 320, 240) < 3, "and only there"
