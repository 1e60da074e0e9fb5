"""Frame gates on the decode thread: a gate sees each decoded frame (image and timestamps), keeps
its own state, and what it turns away is counted by reason in `stats.skipped`."""

from __future__ import annotations

import threading

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
