"""The motion gate through a real pipeline (issue 17): a face walks in, stands still for longer
than `keepalive_s` and `lost_s`, and walks out (a scripted clip, tests/support/scripted_clip.py);
the real model, tracker and zones stage, with the camera's `motion:` on. The face keeps one
tracker id and makes one object_start and one object_end (after it left), the zone sees it enter,
dwell and exit once, and far fewer frames are inferred than the clip has."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FACE_CLASSES
from tests.support.results import ListSink
from tests.support.scripted_clip import Actor, Scene, render
from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_camera
from vigil.daemon.metrics import PrometheusMetrics
from vigil.engine import AutoModel
from vigil.events import Event
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.sources.motion import MotionGate

FPS = 10
# in from the left (1 s empty first), stands 2.5-14.5 s (12 s), out to the right, gone at 16.5 s
WALKER = Actor("w", path=((1, 0, 130), (2.5, 200, 130), (14.5, 200, 130), (16.5, 460, 130)), shown=((1, 16.5),))
SCENE = Scene((WALKER,), duration_s=18, fps=FPS)
KEEPALIVE_S, LOST_S = 3.0, 2.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(SCENE, tmp_path_factory.mktemp("motion") / "stand.mp4")


class Events(ListSink):
    """Keeps the results and the events published to it."""

    records = frozenset({"results", "events"})
    takes_events = True

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    async def publish_event(self, event: Event) -> None:
        self.events.append(event)


def _config(nudenet_path: Path, clip: Path) -> str:
    return f"""model:
  path: {nudenet_path}
sources:
  - name: cam
    url: {clip}
    motion: {{enabled: true, keepalive_s: {KEEPALIVE_S}}}
    tracking:
      classes: [FACE_FEMALE, FACE_MALE]
      track_activation_threshold: 0.5
      high_confidence_threshold: 0.5
    zones:
      - name: spot
        polygon: [[200, 250], [400, 250], [400, 450], [200, 450]]
        dwell_s: 5
sinks:
  - {{kind: jsonl, path: unused.jsonl, records: [results, events]}}
"""


async def test_a_face_that_stands_still_keeps_its_track_and_most_frames_skip_inference(clip, nudenet_path):
    config = parse_config(_config(nudenet_path, clip), "cam.yaml", {})
    assert config.sources[0].motion is not None and config.sources[0].motion.enabled
    assert config.sources[0].motion.keepalive_s > LOST_S
    [(source, stages)] = [make_camera(s) for s in config.sources]
    [gate] = source.gates.gates  # type: ignore[attr-defined]
    assert isinstance(gate, MotionGate)
    sink, metrics = Events(), PrometheusMetrics()
    pipeline = Pipeline(
        AutoModel.from_pretrained(nudenet_path), [source], [sink], PipelineOptions(max_batch=4), metrics, {"cam": stages}
    )
    metrics.observe(pipeline.snapshot)
    await pipeline.run()

    inferred = len(sink.results)
    skipped = source.stats.skipped["motion"]
    assert inferred + skipped == SCENE.frames
    walking = [r.frame.pts for r in sink.results if 1.0 <= r.frame.pts < 2.5 or 14.5 < r.frame.pts < 16.5]
    assert len(walking) == round(1.5 * FPS) + round(2 * FPS) - 1, "every frame of the walks is inferred"
    assert inferred <= SCENE.frames * 0.45, f"{inferred} of {SCENE.frames} frames inferred"
    assert gate.keepalives >= 2  # the 12 s standing still were seen at least every keepalive_s
    assert metrics.registry.get_sample_value("vigil_source_frames_skipped_total", {"source": "cam", "cause": "motion"}) == skipped

    ids: set[int] = set()
    stood = []
    for r in sink.results:
        faces = r.detections[np.isin(r.detections.class_name.astype(str), sorted(FACE_CLASSES))]
        t = r.frame.pts
        assert len(faces) == (1 if WALKER.visible(t) else 0), f"at {t:.1f} s"
        ids.update(i for i in faces.tracker_id.tolist() if i != -1)
        if 5 <= t < 14.5:
            stood.append(t)
    assert len(ids) == 1, f"one face, one track: {ids}"
    assert stood and len(stood) <= (14.5 - 5) / KEEPALIVE_S + 1  # keepalives alone while it stands
    assert max(b - a for a, b in zip(stood, stood[1:])) > LOST_S  # gaps longer than lost_s, yet ...

    types = [(e.type, e.zone) for e in sink.events]
    assert types == [
        ("object_start", None),
        ("zone_enter", "spot"),
        ("dwell", "spot"),
        ("zone_exit", "spot"),
        ("object_end", None),
    ]
    start, end = sink.events[0], sink.events[-1]
    assert end.capture_time.timestamp() - start.capture_time.timestamp() > 14  # its last sighting: leaving
