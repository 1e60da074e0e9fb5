"""Tracking on a real clip through a real pipeline: the astronaut's face moves across a photo,
is hidden briefly (it keeps its tracker id) and then for longer than `lost_track_s` (a new id)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import FACE_CLASSES, photo
from tests.support.results import ListSink
from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_source, make_stages
from vigil.engine import AutoModel
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.stages.tracking import TrackingStage, lost_track_frames

FPS = 30
SIZE = (640, 480)
# frame ranges where the face is on screen; between them, the background alone
SHOWN = [range(30), range(36, 60), range(90, 110)]  # gaps: 6 frames (0.2 s), 30 frames (1 s)
LOST_TRACK_S = 0.5


def face_clip(path: Path, shown: list[range] = SHOWN) -> Path:
    """The face moving 4 px a frame left to right over the coffee photo, hidden outside `shown`;
    H.264 with B-frames as a camera sends it."""
    face = photo("astronaut")[10:230, 120:300]
    background = cv2.resize(photo("coffee"), SIZE, interpolation=cv2.INTER_AREA)
    frames = shown[-1].stop
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.options = {"crf": "20", "g": "12", "bf": "2", "preset": "veryfast"}
        stream.time_base = Fraction(1, FPS * 512)
        for t in range(frames):
            image = background.copy()
            if any(t in span for span in shown):
                x = 4 * t
                image[120 : 120 + face.shape[0], x : x + face.shape[1]] = face
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("tracking") / "face.mp4")


@pytest.mark.parametrize("max_fps", [None, 15])  # sampled: half the frames, the same seconds
async def test_a_face_keeps_its_id_through_a_short_gap_and_gets_a_new_one_after_a_long_gap(clip, nudenet_path, max_fps):
    sampling = "" if max_fps is None else f"\n    max_fps: {max_fps}"
    text = f"""model:
  path: {nudenet_path}
sources:
  - name: cam
    url: {clip}{sampling}
    tracking:
      lost_track_s: {LOST_TRACK_S}
      classes: [FACE_FEMALE, FACE_MALE]
      track_activation_threshold: 0.5
      high_confidence_threshold: 0.5
sinks:
  - kind: jsonl
    path: unused.jsonl
"""
    config = parse_config(text, "t.yaml", {})
    stages = {s.name: make_stages(s) for s in config.sources}
    sink = ListSink()
    pipeline = Pipeline(
        AutoModel.from_pretrained(nudenet_path),
        [make_source(s) for s in config.sources],
        [sink],
        PipelineOptions(max_batch=4, worker_threads=2),
        stages=stages,
    )
    await pipeline.run()

    [tracker] = stages["cam"]
    ids: dict[int, list[int]] = {}  # clip frame number (from the PTS) -> tracker ids of the faces in it
    for r in sink.results:
        faces = r.detections[np.isin(r.detections.class_name.astype(str), sorted(FACE_CLASSES))]
        assert r.detections.tracker_id is not None
        ids[round(r.frame.pts * FPS)] = faces.tracker_id.tolist()
    kept = list(ids)  # every frame or the sampled ones
    assert kept == sorted(kept) and (max_fps is not None or kept == list(range(SHOWN[-1].stop)))  # in order
    # the rate the stage saw: the last results over the time they span (sampling keeps ~12.7 of 30 fps here)
    window = kept[-64:]
    rate = (len(window) - 1) / ((window[-1] - window[0]) / FPS)
    assert isinstance(tracker, TrackingStage) and tracker.rate == pytest.approx(rate, rel=1e-3)
    assert (rate == pytest.approx(FPS, rel=1e-3)) if max_fps is None else 10 < rate <= max_fps
    assert tracker.tracker.maximum_frames_without_update == lost_track_frames(LOST_TRACK_S, rate)
    shown_here = [[t for t in kept if t in s] for s in SHOWN]
    hidden = [t for t in ids if not any(t in shown for shown in SHOWN)]
    assert all(ids[t] == [] for t in hidden)  # nothing found on the background alone

    def track_of(shown: range) -> set[int]:
        # after the first frames of a new track (minimum_consecutive_frames), one face, one id
        return {i for t in shown for i in ids[t] if i != -1}

    first, after_short_gap, after_long_gap = (track_of(s) for s in shown_here)
    assert all(len(ids[t]) == 1 for s in shown_here for t in s), "the face is found in every frame it is on screen"
    assert len(first) == 1 and after_short_gap == first  # 0.2 s hidden < lost_track_s: same id
    assert len(after_long_gap) == 1 and after_long_gap != first  # 1 s hidden > lost_track_s: a new id
    assert all(ids[t] != [-1] for t in shown_here[1])  # the track resumed at once, never unconfirmed
