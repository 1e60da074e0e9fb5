"""The motion gate on a real H.264 clip read by a FileSource: compression noise on a still
scene is not motion, a face walking over it is, and the frames handed on say how many the gate
skipped before them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.sources.test_sources import collect
from tests.support.scripted_clip import Actor, Scene, render
from vigil.config.motion import MotionConfig
from vigil.sources import FileSource
from vigil.sources.motion import MotionGate

# still for 2 s, a face appearing at the left and walking for 1.5 s, then gone: still for 1.5 s
WALKER = Actor("w", path=((2, 0, 100), (3.5, 400, 100)), shown=((2, 3.5),))
SCENE = Scene((WALKER,), duration_s=5, fps=10)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(SCENE, tmp_path_factory.mktemp("motion") / "walk.mp4")


async def test_a_file_source_hands_on_only_the_frames_with_motion(clip):
    gate = MotionGate(MotionConfig(enabled=True, keepalive_s=60), "cam")
    source = FileSource("cam", clip, gates=[gate])
    frames = await collect(source)
    times = [round(f.pts * SCENE.fps) for f in frames]
    walking = list(range(20, 35))
    assert times[0] == 0 and set(walking) <= set(times)  # the first frame seeds; the walk all passes
    assert not any(1 <= t < 20 for t in times), "the still scene before is skipped entirely"
    assert max(times) < 35 + 2 * SCENE.fps, "the gate closes within 2 s of the face leaving"
    assert source.stats.skipped["motion"] == SCENE.frames - len(frames)
    assert [f.seq for f in frames] == list(range(len(frames)))
    assert frames[1].skipped_before == 19 and all(f.skipped_before == 0 for f in frames[2 : len(walking) + 1])
    assert sum(f.skipped_before for f in frames) == source.stats.skipped["motion"] - (SCENE.frames - 1 - max(times))
