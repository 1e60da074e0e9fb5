"""Frame gates on the decode thread: a gate sees each decoded frame (image and timestamps), keeps
its own state, and what it turns away is counted by reason in `stats.skipped`."""

from __future__ import annotations

import threading

import numpy as np

from tests.integration.sources.test_sources import collect
from vigil.frame import Frame
from vigil.sources import FileSource
from vigil.sources.gate import FrameGate


class EveryOther:
    """Lets one frame in two through; remembers what it saw and on which thread."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, tuple[int, ...], str]] = []

    def admit(self, frame: Frame) -> str | None:
        self.seen.append((frame.pts, frame.image.shape, threading.current_thread().name))
        return None if len(self.seen) % 2 else "every_other"


class Never:
    def __init__(self) -> None:
        self.calls = 0

    def admit(self, frame: Frame) -> str | None:
        self.calls += 1
        return None


async def test_a_gate_that_drops_every_other_frame_is_counted_in_skipped(clips):
    gate, later = EveryOther(), Never()
    assert isinstance(gate, FrameGate)
    source = FileSource("a", clips["astronaut"], gates=[gate, later])
    frames = await collect(source)
    assert len(gate.seen) == 24 and len(frames) == 12
    assert source.stats.skipped["every_other"] == 12 and source.stats.emitted == 12 and source.stats.decoded == 24
    assert later.calls == 12  # a frame turned away is not shown to the gates after
    assert [f.seq for f in frames] == list(range(12))  # sequence numbers count the frames handed on
    assert [f.pts for f in frames] == [pts for pts, _, _ in gate.seen[::2]]
    assert {shape for _, shape, _ in gate.seen} == {(480, 640, 3)}
    assert {thread for _, _, thread in gate.seen} == {"decode-a"}


async def test_gates_see_only_what_max_fps_sampling_kept(clips):
    gate = Never()
    source = FileSource("a", clips["astronaut"], max_fps=10, gates=[gate])
    frames = await collect(source)
    assert gate.calls == len(frames) < 24


class Brightness:
    """Reads only `grey()`: keeps what it was handed, to check what it saw and what it cost."""

    def __init__(self) -> None:
        self.views: list = []

    def admit(self, frame) -> str | None:
        self.views.append((frame, frame.grey().copy(), (frame.height, frame.width)))
        return None if len(self.views) % 3 == 1 else "dim"


async def test_a_gate_reading_grey_gets_the_luma_plane_and_skipped_frames_are_never_converted(clips):
    gate = Brightness()
    source = FileSource("a", clips["astronaut"], gates=[gate])
    frames = await collect(source)
    assert len(gate.views) == 24 and len(frames) == 8
    for k, (view, grey, size) in enumerate(gate.views):
        assert size == (480, 640) and grey.shape == (480, 640) and grey.dtype == np.uint8
        converted = view._image is not None
        assert converted == (k % 3 == 0)  # only the frames handed on became BGR
    # The luma plane is the picture's brightness: it matches the grey of the BGR image handed on
    # (BT.601 studio range against OpenCV's full-range weights: within a few levels on average).
    for frame, (_, grey, _) in zip(frames, gate.views[::3]):
        full_range = frame.grey().astype(np.float32)
        assert np.abs((grey.astype(np.float32) - 16) * 255 / 219 - full_range).mean() < 4
