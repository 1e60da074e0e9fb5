"""Stages behind a motion gate: the frames it skipped (`Frame.skipped_before`) count in the
tracking stage's rate, and their time does not count towards the zones stage's `lost_s`, so an
object standing still keeps its track and makes no `object_end` while nothing moves."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from tests.support.results import IMAGE, T0
from tests.unit.stages.test_tracking_stage import detections
from vigil import Frame
from vigil.config.tracking import TrackingSettings
from vigil.config.zones import ZonesStageConfig
from vigil.engine import Detections
from vigil.events import Event
from vigil.result import InferenceResult, Timings
from vigil.stages.base import StageContext, StageOutput
from vigil.stages.tracking import TrackingStage, lost_track_frames
from vigil.stages.zones import ZoneStage

FPS = 5
BOX = [100.0, 100.0, 160.0, 180.0]


def result(index: int, dets: Detections, skipped_before: int = 0) -> InferenceResult:
    """Source frame `index` at FPS (the seq counts only the frames handed on; unused here)."""
    frame = Frame("cam", index, index / FPS, T0 + timedelta(seconds=index / FPS), IMAGE, skipped_before=skipped_before)
    return InferenceResult(frame, "320n", dets, Timings(1.0, 1.0, 1.0, 1.0, 4.0))


def gated(indices: list[int]) -> list[tuple[int, int]]:
    """(frame index, frames skipped right before it) for the frames a gate let through."""
    return [(i, i - prev - 1 if k else 0) for k, (prev, i) in enumerate(zip([indices[0], *indices], indices))]


def tracked(ids: list[int]) -> Detections:
    dets = detections([BOX] * len(ids), [0.9] * len(ids), [0] * len(ids))
    return Detections(
        xyxy=dets.xyxy, confidence=dets.confidence, class_id=dets.class_id, data=dets.data, tracker_id=np.array(ids, np.int64)
    )


def events_of(stage: ZoneStage, frames: list[tuple[int, int, bool]]) -> list[Event]:
    """Run (index, skipped_before, seen) frames with tracker 1 seen or not; the events made."""
    out: list[Event] = []
    for index, skipped, seen in frames:
        answer = stage.process(result(index, tracked([1] if seen else []), skipped))
        assert isinstance(answer, StageOutput)
        out.extend(e for e in answer.records if isinstance(e, Event))
    return out


def test_the_tracking_rate_counts_the_frames_the_gate_skipped():
    stage = TrackingStage(TrackingSettings(lost_track_s=1.0), StageContext("cam"))
    # moving for 3 s, standing for 20 s (a keepalive every 5 s), moving again for 2 s
    indices = list(range(15)) + [40, 65, 90, 115] + list(range(116, 126))
    for index, skipped in gated(indices):
        stage.process(result(index, detections([BOX], [0.9], [0]), skipped))
    assert stage.rate == FPS
    assert stage.tracker.maximum_frames_without_update == lost_track_frames(1.0, FPS)


def test_a_standing_object_keeps_its_tracker_id_across_keepalive_gaps():
    stage = TrackingStage(TrackingSettings(lost_track_s=1.0, minimum_consecutive_frames=1), StageContext("cam"))
    indices = list(range(10)) + [35, 60, 85, 110]  # 22 s with a keepalive every 5 s: longer than lost_track_s
    ids = set()
    for index, skipped in gated(indices):
        out = stage.process(result(index, detections([BOX], [0.9], [0]), skipped))
        assert isinstance(out, InferenceResult) and out.detections.tracker_id is not None
        ids.update(out.detections.tracker_id.tolist())
    assert len(ids - {-1}) == 1  # -1: the frame that spawned the track, before its id came


def test_a_keepalive_frame_that_sees_a_standing_object_keeps_it_alive_past_lost_s():
    stage = ZoneStage(ZonesStageConfig(lost_s=2.0), StageContext("cam"))
    frames = [(i, 0, True) for i in range(10)] + [(i, s, True) for i, s in gated([9, 35, 60, 85])[1:]]
    events = events_of(stage, frames)
    assert [e.type for e in events] == ["object_start"]  # 5 s gaps > lost_s, still one living object


def test_a_keepalive_frame_that_misses_a_standing_object_does_not_end_it_at_once():
    stage = ZoneStage(ZonesStageConfig(lost_s=2.0), StageContext("cam"))
    # seen while moving, then missed on two keepalives (5 s apart), then seen again
    frames = [(i, 0, True) for i in range(10)] + [(34, 24, False), (59, 24, False), (84, 24, True)]
    assert [e.type for e in events_of(stage, frames)] == ["object_start"]
    assert 1 in stage.tracks


def test_missed_on_enough_keepalive_frames_a_standing_object_ends():
    stage = ZoneStage(ZonesStageConfig(lost_s=2.0), StageContext("cam"))
    # each missed keepalive counts one frame (0.2 s): the 10th miss reaches lost_s
    misses = [(9 + 25 * k, 24, False) for k in range(1, 11)]
    assert [e.type for e in events_of(stage, [(i, 0, True) for i in range(10)] + misses[:9])] == ["object_start"]
    assert [e.type for e in events_of(stage, misses[9:])] == ["object_end"]


def test_a_gap_without_skipped_frames_still_ends_an_unseen_object_after_lost_s():
    stage = ZoneStage(ZonesStageConfig(lost_s=2.0), StageContext("cam"))
    # no gate: the camera sent nothing for 3 s (a stall): lost_s of capture time has passed
    frames = [(i, 0, True) for i in range(10)] + [(25, 0, False)]
    assert [e.type for e in events_of(stage, frames)] == ["object_start", "object_end"]
