"""The `cascade` stage: a secondary model on crops of a source's detections (DeepStream's
secondary GIEs; a plate reader on cars, a classifier on faces), its output attached to the
detection it came from (`vigil.engine.cascade.Attached`, in `detections.data["attached"]`).

Each source has its own `CascadeStage` (its rule, how often, and per track what the secondary
said); every source's stage for one secondary model shares a `CascadeStep`, which the stage
chains call once per batch with the results of all those sources, so the crops of every camera
go through the secondary model together (`vigil.stages.base.BatchedStage`).

How often (`every`): on every selected detection (`detection`), once per track
(`once_per_track`: the first time the track qualifies), or at most once per that many seconds
of capture time per track. With tracking, each track's outputs are voted on (`vote`): the label
with the most confidence summed over the runs wins, and every detection of the track carries it
(with `votes`, `runs` and `fresh`: whether the secondary ran on this very crop), so frames between
runs, filters and events (`extra.attached` of the zones stage's events) all see the track's label.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from vigil.engine import Attached, CascadeRule, Detections, attach, crop, run_secondary, select
from vigil.result import InferenceResult
from vigil.stages.base import BatchedStage, BatchedStep, StageOutput

__all__ = ["CascadeStage", "CascadeStep", "Every"]

log = logging.getLogger(__name__)

Every = Literal["detection", "once_per_track"] | float


class CascadeStep(BatchedStep):
    """One secondary model, shared by every source's cascade stage that uses it: the crops of all
    of them in one call per batch, in chunks of the model's batch size (at most `max_batch`)."""

    def __init__(self, model: Any, *, max_batch: int | None = None) -> None:
        self.model = model
        self.max_batch = max_batch
        self.crops_run = 0  # crops the secondary model ran on
        self.calls: list[int] = []  # crops per call (a call is one or more model batches)

    def run(self, work: Sequence[tuple[BatchedStage, list[InferenceResult]]]) -> list[list[InferenceResult | StageOutput | None]]:
        stages = [stage for stage, _ in work]
        picks = [stage.picks(results) for stage, results in work]  # type: ignore[attr-defined]
        crops = [c for per_stage in picks for per_result in per_stage for _, c in per_result]
        top_k = max((stage.rule.top_k for stage in stages), default=5)  # type: ignore[attr-defined]
        outputs = run_secondary(self.model, crops, "", max_batch=self.max_batch, top_k=top_k) if crops else []
        if crops:
            self.crops_run += len(crops)
            self.calls.append(len(crops))
        answers, k = [], 0
        for stage, (_, results), per_stage in zip(stages, work, picks):
            n = sum(len(p) for p in per_stage)
            answers.append(stage.settle(results, per_stage, outputs[k : k + n]))  # type: ignore[attr-defined]
            k += n
        return answers


@dataclass(slots=True)
class _TrackVotes:
    last_run: float | None = None  # capture time (s) of the last run
    runs: int = 0
    weight: dict[str, float] = field(default_factory=dict)  # label -> summed confidence
    count: dict[str, int] = field(default_factory=dict)
    latest: dict[str, Attached] = field(default_factory=dict)  # label -> its latest output
    seen_at: float = 0.0

    vectors: np.ndarray | None = None  # an embedding model's: the sum of the track's (normalised) embeddings
    appearance: np.ndarray | None = None  # that sum normalised: the track's appearance

    def add(self, output: Attached, t: float) -> None:
        self.runs += 1
        self.last_run = t
        self.weight[output.label] = self.weight.get(output.label, 0.0) + output.confidence
        self.count[output.label] = self.count.get(output.label, 0) + 1
        self.latest[output.label] = output
        if output.vector is not None:
            self.vectors = output.vector.copy() if self.vectors is None else self.vectors + output.vector
            norm = float(np.linalg.norm(self.vectors))
            self.appearance = self.vectors / norm if norm > 0 else self.vectors

    def voted(self, fresh: bool) -> Attached:
        label = max(self.weight, key=lambda name: (self.weight[name], self.count[name]))
        best = self.latest[label]
        mean = self.weight[label] / self.count[label]
        voted = replace(best, confidence=mean, votes=self.count[label], runs=self.runs, fresh=fresh)
        if self.appearance is not None:  # the mean of its embeddings, normalised once per run, not per frame
            voted = replace(voted, vector=self.appearance)
        return voted


class CascadeStage(BatchedStage):
    """One source's cascade: `rule` picks the detections, `every` how often per track, `vote`
    whether a track's outputs are voted on; `step` runs the secondary model (shared)."""

    def __init__(
        self,
        rule: CascadeRule,
        step: CascadeStep,
        *,
        source: str,
        every: Every = "once_per_track",
        vote: bool = True,
        forget_after_s: float = 60.0,
    ) -> None:
        self.rule, self.step, self.source = rule, step, source
        self.every, self.vote = every, vote
        self.forget_after_s = forget_after_s
        self.tracks: dict[int, _TrackVotes] = {}

    def picks(self, results: Sequence[InferenceResult]) -> list[list[tuple[int, np.ndarray]]]:
        """Per result, the (detection index, crop) pairs the secondary runs on now."""
        out: list[list[tuple[int, np.ndarray]]] = []
        planned: dict[int, float] = {}  # runs decided in this call, before settle() records them
        for result in results:
            dets = result.detections
            if not isinstance(dets, Detections) or not len(dets):
                out.append([])
                continue
            image = result.frame.image
            chosen = select(self.rule, dets, image.shape)
            t = result.frame.capture_time.timestamp()
            out.append(
                [(int(i), crop(image, dets.xyxy[i], self.rule.pad)) for i in chosen if self._due(dets, int(i), t, planned)]
            )
        return out

    def _due(self, dets: Detections, i: int, t: float, planned: dict[int, float]) -> bool:
        """Whether detection `i` runs now: always for `detection` (or without a tracker); per
        track, never on a detection the tracker has not confirmed yet (id -1), once per track or
        once per `every` seconds of capture time."""
        if self.every == "detection" or dets.tracker_id is None:
            return True
        tid = int(dets.tracker_id[i])
        if tid < 0:
            return False
        track = self.tracks.get(tid)
        last = planned.get(tid, track.last_run if track is not None else None)
        due = last is None or (self.every != "once_per_track" and t - last >= float(self.every))
        if due:
            planned[tid] = t
        return due

    def settle(
        self, results: Sequence[InferenceResult], picks: Sequence[Sequence[tuple[int, np.ndarray]]], outputs: Sequence[Attached]
    ) -> list[InferenceResult | StageOutput | None]:
        """Attach the outputs (voted per track when tracked) to their detections; answers in order."""
        k = 0
        for result, chosen in zip(results, picks):
            mine = [replace(o, model=self.rule.name, top_k=o.top_k[: self.rule.top_k]) for o in outputs[k : k + len(chosen)]]
            k += len(chosen)
            self._attach(result, [i for i, _ in chosen], mine)
        return list(results)

    def _attach(self, result: InferenceResult, ran: list[int], outputs: list[Attached]) -> None:
        dets = result.detections
        if not isinstance(dets, Detections):
            return
        t = result.frame.capture_time.timestamp()
        ids = dets.tracker_id if dets.tracker_id is not None else np.full(len(dets), -1)
        fresh = dict(zip(ran, outputs))
        for i, output in fresh.items():
            if ids[i] >= 0:
                self.tracks.setdefault(int(ids[i]), _TrackVotes()).add(output, t)
        for tid in ids[ids >= 0].tolist():
            if tid in self.tracks:
                self.tracks[tid].seen_at = t
        if self.vote:
            voted = [i for i in range(len(dets)) if int(ids[i]) in self.tracks]
            attach(dets, self.rule.name, voted, [self.tracks[int(ids[i])].voted(i in fresh) for i in voted])
            fresh = {i: o for i, o in fresh.items() if ids[i] < 0}  # untracked: as the model said
        if fresh:
            attach(dets, self.rule.name, list(fresh), list(fresh.values()))
        self._forget(t)

    def _forget(self, t: float) -> None:
        """Tracks not seen for `forget_after_s` go (the tracker has long dropped them)."""
        for tid in [tid for tid, track in self.tracks.items() if t - track.seen_at > self.forget_after_s]:
            del self.tracks[tid]
