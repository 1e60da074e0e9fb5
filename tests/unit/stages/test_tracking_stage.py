"""The `tracking` stage: parity with Roboflow's ByteTrack on the same detection stream, the
frame-rate rule, untracked classes, the `sources[].tracking` sugar, config errors."""

from __future__ import annotations

import sys
from datetime import timedelta

import numpy as np
import pytest
import supervision as sv
from trackers import ByteTrackTracker

from tests.support.results import IMAGE, NAMES, T0
from vigil import Frame
from vigil.config import SourceConfig
from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_stages
from vigil.engine import Detections
from vigil.errors import ConfigError, MissingDependencyError
from vigil.result import InferenceResult, Timings
from vigil.sinks.records import result_to_record
from vigil.stages.base import StageContext
from vigil.stages.filter import FilterStage
from vigil.stages.tracking import TrackingStage, TrackingStageConfig, lost_track_frames


def result(seq: int, dets: Detections, fps: float = 30.0, source: str = "cam") -> InferenceResult:
    frame = Frame(source, seq, seq / fps, T0 + timedelta(seconds=seq / fps), IMAGE)
    return InferenceResult(frame, "320n", dets, Timings(1.0, 1.0, 1.0, 1.0, 4.0))


def detections(boxes: list[list[float]], conf: list[float], classes: list[int]) -> Detections:
    return Detections(
        xyxy=np.array(boxes, np.float32).reshape(-1, 4),
        confidence=np.array(conf, np.float32),
        class_id=np.array(classes, np.int64),
        data={"class_name": np.array([NAMES[c] for c in classes], dtype=str)},
    )


def scripted_stream(frames: int = 120, seed: int = 7) -> list[Detections]:
    """Five objects on straight paths with jitter, weak frames, misses, one leaving for 40
    frames, one starting late, two crossing, and a clutter detection now and then."""
    rng = np.random.default_rng(seed)
    starts = np.array([[20, 30], [300, 40], [40, 300], [500, 300], [260, 200]], float)
    speeds = np.array([[4, 1], [-3, 2], [5, -1], [-4, -2], [0.5, 0.5]], float)
    out = []
    for t in range(frames):
        boxes, conf = [], []
        for k, (start, speed) in enumerate(zip(starts, speeds)):
            if (k == 1 and 40 <= t < 80) or (k == 4 and t < 30) or rng.random() < 0.08:
                continue
            x, y = start + speed * t + rng.normal(0, 1.0, 2)
            boxes.append([x, y, x + 60, y + 60])
            conf.append(rng.choice([rng.uniform(0.75, 0.95), rng.uniform(0.3, 0.6)], p=[0.85, 0.15]))
        if rng.random() < 0.1:
            x, y = rng.uniform(0, 600, 2)
            boxes.append([x, y, x + 20, y + 20])
            conf.append(rng.uniform(0.2, 0.8))
        order = rng.permutation(len(boxes))
        out.append(detections([boxes[i] for i in order], [conf[i] for i in order], [0] * len(boxes)))
    return out


def grouping(xyxy: np.ndarray, ids: np.ndarray) -> set[tuple[tuple[float, ...], int]]:
    return {(tuple(np.round(box, 3).tolist()), int(i)) for box, i in zip(xyxy, ids)}


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"lost_track_s": 0.5, "minimum_consecutive_frames": 1, "track_activation_threshold": 0.5},
        {"lost_track_s": 0, "minimum_iou_threshold": 0.3, "high_confidence_threshold": 0.8},
    ],
)
def test_tracks_equal_the_reference_bytetrack_frame_by_frame(settings):
    config = TrackingStageConfig(**settings)
    stage = TrackingStage(config, StageContext("cam"))
    reference = ByteTrackTracker(
        lost_track_buffer=lost_track_frames(config.lost_track_s, 30.0),
        frame_rate=30.0,
        track_activation_threshold=config.track_activation_threshold,
        minimum_consecutive_frames=config.minimum_consecutive_frames,
        minimum_iou_threshold=config.minimum_iou_threshold,
        high_conf_det_threshold=config.high_confidence_threshold,
    )
    tracked_frames, ids_seen = 0, set()
    for seq, dets in enumerate(scripted_stream()):
        ours = stage.process(result(seq, dets)).detections
        theirs = reference.update(sv.Detections(xyxy=dets.xyxy, confidence=dets.confidence, class_id=dets.class_id))
        assert len(ours) == len(dets) and np.array_equal(ours.xyxy, dets.xyxy)  # nothing dropped, order kept
        assert grouping(ours.xyxy, ours.tracker_id) == grouping(theirs.xyxy, theirs.tracker_id), f"frame {seq}"
        tracked_frames += bool((ours.tracker_id >= 0).any())
        ids_seen |= set(ours.tracker_id.tolist()) - {-1}
    assert tracked_frames > 100 and len(ids_seen) >= 5  # the comparison had tracks to compare


@pytest.mark.parametrize(
    ("lost_track_s", "fps", "frames"),
    [
        (1.0, 30.0, 30),
        (1.0, 5.0, 5),
        (2.0, 12.5, 25),
        (0.1, 5.0, 1),
        (0.0, 30.0, 0),
        (0.5, 29.97, 15),
        (0.5, 30.0000001, 15),
        (0.5, 30.1, 16),
    ],
)
def test_lost_track_s_becomes_frames_at_the_measured_rate(lost_track_s, fps, frames):
    stage = TrackingStage(TrackingStageConfig(lost_track_s=lost_track_s), StageContext("cam"))
    for seq in range(10):
        stage.process(result(seq, Detections.empty(), fps=fps))
    assert stage.rate == pytest.approx(fps)
    assert stage.tracker.maximum_frames_without_update == frames


def test_the_rate_is_measured_again_when_pts_goes_back():
    stage = TrackingStage(TrackingStageConfig(lost_track_s=1.0), StageContext("cam"))
    for seq in range(10):
        stage.process(result(seq, Detections.empty(), fps=30.0))
    for seq in range(3):  # a looping file starts over, sampled at 10 fps now
        stage.process(result(seq, Detections.empty(), fps=10.0))
    assert stage.rate == pytest.approx(10.0) and stage.tracker.maximum_frames_without_update == 10


def test_classes_not_listed_pass_on_untracked():
    stage = TrackingStage(TrackingStageConfig(classes=["FACE_FEMALE"], minimum_consecutive_frames=1), StageContext("cam"))
    for seq in range(3):
        dets = detections([[10 + seq, 10, 60, 60], [200, 200, 260, 260]], [0.9, 0.9], [0, 1])
        out = stage.process(result(seq, dets)).detections
    assert out.class_id.tolist() == [0, 1] and out.tracker_id.tolist() == [0, -1]


def test_the_record_carries_tracker_id_only_when_tracked():
    dets = detections([[10, 10, 60, 60], [200, 200, 260, 260]], [0.9, 0.4], [0, 1])
    assert "tracker_id" not in result_to_record(result(0, dets))["detections"][0]
    tracked = result(0, Detections(dets.xyxy, dets.confidence, dets.class_id, dets.data, tracker_id=[4, -1]))
    assert [d["tracker_id"] for d in result_to_record(tracked)["detections"]] == [4, -1]


def test_a_missing_trackers_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "trackers", None)
    with pytest.raises(MissingDependencyError, match=r"vigil-analytics\[tracking\]"):
        TrackingStage(TrackingStageConfig(), StageContext("cam"))


def test_sources_tracking_puts_a_tracking_stage_first():
    config = SourceConfig.model_validate(
        {
            "name": "cam",
            "url": "a.mp4",
            "tracking": {"lost_track_s": 3, "classes": [0]},
            "stages": [{"kind": "filter", "min_confidence": 0.5}],
        }
    )
    tracking, filtering = make_stages(config)
    assert isinstance(tracking, TrackingStage) and isinstance(filtering, FilterStage)
    assert tracking.config.lost_track_s == 3 and tracking.config.classes == [0]


DOOR = {"name": "door", "polygon": [[0, 0], [100, 0], [100, 100]]}
GATE = {"name": "gate", "start": [0, 50], "end": [100, 50]}


@pytest.mark.parametrize(
    ("extra", "tracked"),
    [
        ({"zones": [DOOR]}, True),
        ({"lines": [GATE]}, True),
        ({}, False),
        ({"zones": [], "lines": []}, False),
    ],
)
def test_a_source_with_zones_or_lines_is_tracked_with_the_defaults(extra, tracked):
    stages = make_stages(SourceConfig(name="cam", url="a.mp4", **extra))
    trackers = [s for s in stages if isinstance(s, TrackingStage)]
    assert len(trackers) == tracked and (not tracked or stages[0] is trackers[0])  # first in the chain
    if tracked:
        assert trackers[0].config == TrackingStageConfig()


def test_a_tracking_stage_in_stages_is_not_doubled():
    config = SourceConfig(name="cam", url="a.mp4", stages=[{"kind": "tracking", "lost_track_s": 2}])
    [stage] = make_stages(config)
    assert isinstance(stage, TrackingStage) and stage.config.lost_track_s == 2


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("    tracking:\n      lost_track_s: -1\n", r"line 7: sources\[0\].tracking.lost_track_s"),
        ("    tracking:\n      lost_track_frames: 30\n", r"line 7: sources\[0\].tracking.lost_track_frames"),
        ("    stages:\n      - kind: tracking\n        classes: []\n", r"line 8: sources\[0\].stages\[0\].classes"),
        (
            "    stages:\n      - kind: tracking\n        track_activation_threshold: 1.5\n",
            r"line 8: sources\[0\].stages\[0\].track_activation_threshold",
        ),
        (
            "    stages:\n      - kind: tracking\n    tracking:\n      lost_track_s: 2\n",
            r"line 8: sources\[0\].tracking: .*tracking stage in stages",
        ),
    ],
)
def test_config_errors_name_the_key_and_its_line(body, where):
    text = f"model:\n  path: m.onnx\nsources:\n  - name: cam\n    url: a.mp4\n{body}"
    with pytest.raises(ConfigError, match=where):
        parse_config(text, "t.yaml", {})


def test_check_names_each_tracked_source_when_the_tracking_extra_is_missing(tmp_path, monkeypatch, nudenet_path):
    from vigil.cli.check import check_config

    path = tmp_path / "vigil.yaml"
    path.write_text(
        f"model:\n  path: {nudenet_path}\nsources:\n"
        "  - name: a\n    url: a.mp4\n    tracking:\n      lost_track_s: 2\n"
        "  - name: b\n    url: b.mp4\n    stages:\n      - kind: filter\n      - kind: tracking\n"
        "  - name: c\n    url: c.mp4\n"
        "sinks:\n  - kind: jsonl\n    path: out.jsonl\n"
    )
    assert check_config(path).startswith(f"{path}: OK")
    monkeypatch.setitem(sys.modules, "trackers", None)
    with pytest.raises(ConfigError) as info:
        check_config(path)
    message = str(info.value)
    assert "line 6: sources[0].tracking: the tracking stage needs" in message
    assert "line 12: sources[1].stages[1]: the tracking stage needs" in message
    assert "sources[2]" not in message and "vigil-analytics[tracking]" in message
