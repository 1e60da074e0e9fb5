"""Cascades end to end through the YAML (issue 18): `models:` and `sources[].cascades` parsed,
assembled (`load_models`, `make_camera`) and run by the real pipeline on real clips, with real
models. What a secondary attached to a detection equals that model run directly on the same
crop of the same decoded frame; crops of two cameras go through the secondary together; a track
is read once (`once_per_track`) or every so often and voted on, and its events carry the vote;
a sink's filter on attached text; bad cascades refused with clear errors."""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.integration.stages.test_tracking import face_clip
from tests.support.results import ListSink
from tests.support.text_signs import TextSignsClip, text_signs_clip
from vigil.config.loader import parse_config
from vigil.daemon.assemble import load_models, make_camera, make_sinks, model_options, pipeline_options, routes
from vigil.engine import AutoModel, CascadeRule, Detections, attached, crop, select
from vigil.engine._private.importers import import_rapidocr
from vigil.errors import ConfigError, ModelLoadError
from vigil.pipeline import Pipeline
from vigil.result import InferenceResult
from vigil.stages.base import Stage
from vigil.stages.cascade import CascadeStage, CascadeStep

SCORE_TOL = 1e-5
FACES = "[FACE_FEMALE, FACE_MALE]"
TRACKING = f"{{classes: {FACES}, track_activation_threshold: 0.5, high_confidence_threshold: 0.5, lost_track_s: 0.5}}"
SIGNS = ("AB 123", "CX 4471")
READ_EVERY_S = 0.5


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The face moving across the coffee photo for 24 frames (0.8 s)."""
    return face_clip(tmp_path_factory.mktemp("cascade-faces") / "face.mp4", shown=[range(24)])


@pytest.fixture(scope="module")
def two_tracks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The face shown twice with a 1 s gap in between (longer than lost_track_s: two tracks)."""
    return face_clip(tmp_path_factory.mktemp("cascade-tracks") / "face.mp4", shown=[range(20), range(50, 70)])


@pytest.fixture(scope="module")
def classifier_path(golden_dir: Path) -> Path:
    return golden_dir / "models" / "yolov8n-cls.onnx"


@pytest.fixture(scope="module")
def ppocr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = Path(str(importlib.resources.files("rapidocr_onnxruntime")))
    return import_rapidocr(source, tmp_path_factory.mktemp("ppocr"), tmp_path_factory.mktemp("ppocr-scratch"))


@pytest.fixture(scope="module")
def signs(tmp_path_factory: pytest.TempPathFactory) -> TextSignsClip:
    # 5 frames a second: 23 frames, each sign fully on screen for about 1.7 s
    return text_signs_clip(tmp_path_factory.mktemp("cascade-signs") / "signs.mp4", signs=SIGNS, fps=5)


@dataclass
class Run:
    results: list[InferenceResult]  # what every source published, as a ListSink got it
    steps: dict[str, CascadeStep]
    stages: dict[str, list[Stage]]


def decoded(path: Path) -> list[np.ndarray]:
    """Every frame of `path`, decoded here with PyAV (BGR), by frame number."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def run_config(text: str, prepare: Callable[[Run], None] | None = None) -> Run:
    """Parse `text`, assemble it as `build_pipeline` does (plus a ListSink) and run it to the end."""
    config = parse_config(text, "cam.yaml", {})
    sink = ListSink()
    outlets = await make_sinks(config)
    models = await load_models(config)
    try:
        cameras = {s.name: make_camera(s, models.steps) for s in config.sources}
        run = Run(sink.results, models.steps, {name: chain for name, (_, chain) in cameras.items()})
        if prepare is not None:
            prepare(run)
        pipeline = Pipeline(
            models.frame,
            [source for source, _ in cameras.values()],
            [*outlets, sink],
            pipeline_options(config),
            None,
            run.stages,
            source_models={s.name: config.models_of(s) for s in config.sources},
            model_options=model_options(config, models.frame),
        )
        pipeline.routes = routes(config.sources)
        await pipeline.run()
    finally:
        models.close()
    return run


def cascade_of(run: Run, source: str) -> CascadeStage:
    (stage,) = [s for s in run.stages[source] if isinstance(s, CascadeStage)]
    return stage


def record_calls(run: Run) -> list[dict[str, int]]:
    """Per call of each step: crops per source in it (wraps each stage's `picks`)."""
    calls: list[dict[str, int]] = []
    for step in run.steps.values():
        step_run = step.run

        def counted(work: Any, step_run: Any = step_run) -> Any:
            calls.append({})
            return step_run(work)

        step.run = counted  # type: ignore[method-assign]
    for chain in run.stages.values():
        for stage in chain:
            if isinstance(stage, CascadeStage):
                picks = stage.picks

                def noted(results: Any, picks: Any = picks, source: str = stage.source) -> Any:
                    out = picks(results)
                    n = sum(len(p) for p in out)
                    if n:
                        calls[-1][source] = calls[-1].get(source, 0) + n
                    return out

                stage.picks = noted  # type: ignore[method-assign]
    return calls


def selected(rule: CascadeRule, result: InferenceResult) -> list[int]:
    dets = result.detections
    assert isinstance(dets, Detections)
    return select(rule, dets, result.frame.image.shape).tolist()


# -- a classifier on faces, two cameras --------------------------------------------------------


def face_config(nudenet: Path, classifier: Path, clips: Mapping[str, Path], out: Path, cascade: str, tracking: str = "") -> str:
    cameras = "".join(
        f"  - name: {name}\n    url: {path}\n    models: [faces]\n{tracking}"
        f"    cascades:\n      - {{model: kind, classes: {FACES}, {cascade}}}\n"
        for name, path in clips.items()
    )
    return f"""models:
  faces: {{path: {nudenet}}}
  kind: {{path: {classifier}, batch: {{max_batch: 8}}}}
batch: {{max_batch: 4}}
sources:
{cameras}sinks:
  - {{kind: jsonl, path: {out}}}
"""


async def test_classifier_cascade_on_two_cameras_equals_the_classifier_run_on_the_same_crops(
    nudenet_path, classifier_path, faces, tmp_path
):
    out = tmp_path / "out.jsonl"
    text = face_config(nudenet_path, classifier_path, {"a": faces, "b": faces}, out, "every: detection, vote: false")
    box: list[list[dict[str, int]]] = []
    run = await run_config(text, lambda r: box.append(record_calls(r)))
    (calls,) = box
    frames = decoded(faces)
    classifier = AutoModel.from_pretrained(classifier_path)
    checked = 0
    try:
        for result in run.results:
            dets = result.detections
            assert isinstance(dets, Detections)
            rule = cascade_of(run, result.frame.source_id).rule
            image = frames[result.frame.seq]
            assert np.array_equal(image, result.frame.image), "the pipeline's frame is the clip's frame `seq`"
            outputs = attached(dets)
            assert [i for i, o in enumerate(outputs) if "kind" in o] == selected(rule, result)
            for i, output in enumerate(outputs):
                if "kind" not in output:
                    continue
                ours = output["kind"]
                (direct,) = classifier([crop(image, dets.xyxy[i], rule.pad)])
                where = f"{result.frame.source_id} frame {result.frame.seq} detection {i}"
                assert (ours.kind, ours.runs, ours.fresh) == ("classification", 1, True), where
                assert [c for c, _, _ in ours.top_k] == direct.top_k.tolist(), where
                np.testing.assert_allclose([s for _, _, s in ours.top_k], direct.top_k_confidence, atol=SCORE_TOL, err_msg=where)
                assert ours.label == direct.class_name, where
                checked += 1
    finally:
        classifier.close()
    by_source = {s: sum(1 for r in run.results if r.frame.source_id == s) for s in "ab"}
    assert by_source == {"a": len(frames), "b": len(frames)}
    assert checked >= len(frames), "the face is classified in most frames of both cameras"
    step = run.steps["kind"]
    assert step.crops_run == checked == sum(step.calls) == sum(sum(c.values()) for c in calls)
    assert len(step.calls) < step.crops_run, "several crops per call"
    assert any(set(c) == {"a", "b"} for c in calls), f"no call held crops of both cameras: {calls}"

    # the JSONL carries the same outputs
    written = {(r["source"], r["seq"]): r for r in records(out)}
    assert len(written) == len(run.results)
    for result in run.results:
        dets = result.detections
        assert isinstance(dets, Detections)
        line = written[(result.frame.source_id, result.frame.seq)]
        expected = [{"kind": o["kind"].to_json()} if "kind" in o else None for o in attached(dets)]
        assert [d.get("attached") for d in line["detections"]] == expected


async def test_once_per_track_runs_the_classifier_once_per_track_and_gives_its_output_to_every_later_detection(
    nudenet_path, classifier_path, two_tracks, tmp_path
):
    text = face_config(
        nudenet_path,
        classifier_path,
        {"cam": two_tracks},
        tmp_path / "out.jsonl",
        "every: once_per_track",
        tracking=f"    tracking: {TRACKING}\n",
    )
    run = await run_config(text)
    rule = cascade_of(run, "cam").rule
    first: dict[int, Any] = {}  # tracker id -> the output of its first run
    untracked = later = 0
    for result in sorted(run.results, key=lambda r: r.frame.seq):
        dets = result.detections
        assert isinstance(dets, Detections) and dets.tracker_id is not None
        outputs = attached(dets)
        for i in selected(rule, result):
            tid, where = int(dets.tracker_id[i]), f"frame {result.frame.seq}"
            if tid < 0:  # ByteTrack confirms a new track on its second frame: a per-track cascade waits for it
                assert "kind" not in outputs[i], where
                untracked += 1
                continue
            output = outputs[i]["kind"]
            if tid not in first:
                assert (output.fresh, output.runs, output.votes) == (True, 1, 1), where
                first[tid] = output
            else:
                assert (output.fresh, output.runs, output.votes) == (False, 1, 1), where
                assert (output.label, output.top_k) == (first[tid].label, first[tid].top_k), where
                later += 1
    assert len(first) == 2, f"two tracks expected, got {sorted(first)}"
    assert later >= 30, "most detections came after their track's run"
    assert untracked <= len(first), "at most each track's first frame goes untracked"
    assert run.steps["kind"].crops_run == len(first)  # once per track, never on an unconfirmed detection


# -- OCR on moving signs ---------------------------------------------------------------------------


def signs_config(ppocr: Path, clip: Path, out: Path, ab: Path) -> str:
    return f"""models:
  signs: {{path: {ppocr}, task: detect}}
  reader: {{path: {ppocr}}}
sources:
  - name: road
    url: {clip}
    models: [signs]
    tracking: {{track_activation_threshold: 0.5, high_confidence_threshold: 0.5}}
    zones:
      - {{name: all, polygon: [[0, 0], [640, 0], [640, 480], [0, 480]]}}
    cascades:
      - {{model: reader, pad: 1.0, every: {READ_EVERY_S}, min_size: 16}}
sinks:
  - {{kind: jsonl, name: everything, path: {out}, records: [results, events]}}
  - {{kind: jsonl, name: ab, path: {ab}, filter: {{attached: {{reader: "^AB"}}}}}}
"""


@dataclass(frozen=True)
class Reading:
    """One run of the secondary as the stage got it, before voting."""

    seq: int
    t: float  # capture time (s)
    index: int  # the detection's row
    tracker_id: int
    crop: np.ndarray
    output: Any  # Attached


def record_readings(run: Run, into: list[Reading]) -> None:
    """Wrap each cascade stage's `settle` to keep the secondary's own outputs and their crops."""
    for chain in run.stages.values():
        for stage in chain:
            if isinstance(stage, CascadeStage):
                settle = stage.settle

                def kept(results: Any, picks: Any, outputs: Any, settle: Any = settle) -> Any:
                    k = 0
                    for result, chosen in zip(results, picks):
                        ids = result.detections.tracker_id
                        for i, piece in chosen:
                            into.append(
                                Reading(
                                    result.frame.seq,
                                    result.frame.capture_time.timestamp(),
                                    i,
                                    -1 if ids is None else int(ids[i]),
                                    piece.copy(),
                                    outputs[k],
                                )
                            )
                            k += 1
                    return settle(results, picks, outputs)

                stage.settle = kept  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def signs_run(
    ppocr_dir: Path, signs: TextSignsClip, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Run, list[Reading], Path, Path]:
    folder = tmp_path_factory.mktemp("signs-out")
    out, ab = folder / "out.jsonl", folder / "ab.jsonl"
    readings: list[Reading] = []
    # one run for the module's tests (a fixture of its own event loop: test loops are per function)
    run = asyncio.run(run_config(signs_config(ppocr_dir, signs.path, out, ab), lambda r: record_readings(r, readings)))
    return run, readings, out, ab


def test_ocr_cascade_reads_what_the_ocr_model_reads_directly_on_the_same_crops(signs_run, signs, ppocr_dir):
    run, readings, _, _ = signs_run
    frames = decoded(signs.path)
    results = {r.frame.seq: r for r in run.results}
    pad = cascade_of(run, "road").rule.pad
    assert len(readings) == run.steps["reader"].crops_run
    texts = {r.output.label for r in readings}
    assert set(SIGNS) <= texts, f"read: {texts}"
    # a few: the first reading of each track, and the first full reading of each sign
    sample = list({r.tracker_id: r for r in reversed(readings) if r.tracker_id >= 0}.values())
    sample += [next(r for r in readings if r.output.label == text) for text in SIGNS]
    reader = AutoModel.from_pretrained(ppocr_dir)
    try:
        for reading in sample:
            result, where = results[reading.seq], f"frame {reading.seq} detection {reading.index}"
            image = frames[reading.seq]
            assert np.array_equal(image, result.frame.image), where
            mine = crop(image, result.detections.xyxy[reading.index], pad)
            assert np.array_equal(mine, reading.crop), where
            (direct,) = reader([mine])
            assert reading.output.kind == "text", where
            assert [text for text, _ in reading.output.lines] == list(direct.text), where
            np.testing.assert_allclose([s for _, s in reading.output.lines], direct.confidence, atol=SCORE_TOL, err_msg=where)
            assert reading.output.label == " ".join(direct.text), where
    finally:
        reader.close()


def test_each_detection_of_a_sign_carries_the_vote_of_its_tracks_readings_so_far(signs_run):
    run, readings, _, _ = signs_run
    checked = 0
    for result in sorted(run.results, key=lambda r: r.frame.seq):
        dets = result.detections
        assert isinstance(dets, Detections) and dets.tracker_id is not None
        for i, output in enumerate(attached(dets)):
            if "reader" not in output:
                continue
            got, tid, where = output["reader"], int(dets.tracker_id[i]), f"frame {result.frame.seq} detection {i}"
            ran_here = [r for r in readings if (r.seq, r.index) == (result.frame.seq, i)]
            assert got.fresh == bool(ran_here), where
            if tid < 0:  # untracked: what the model said on this very crop
                assert ran_here and got.label == ran_here[0].output.label and got.runs == 1, where
                continue
            so_far = [r.output for r in readings if r.tracker_id == tid and r.seq <= result.frame.seq]
            weight: dict[str, float] = {}
            for o in so_far:
                weight[o.label] = weight.get(o.label, 0.0) + o.confidence
            count = {label: sum(o.label == label for o in so_far) for label in weight}
            voted = max(weight, key=lambda label: (weight[label], count[label]))
            assert (got.label, got.runs, got.votes) == (voted, len(so_far), count[voted]), where
            assert abs(got.confidence - weight[voted] / count[voted]) <= 1e-6, where
            checked += 1
    assert checked >= 20


def test_a_track_is_read_at_most_once_per_every_seconds(signs_run):
    """`every: 0.5`: at most one run per track per 0.5 s of capture time, however frames batch."""
    _, readings, _, _ = signs_run
    times: dict[int, list[tuple[int, float]]] = {}
    for r in readings:
        if r.tracker_id >= 0:
            times.setdefault(r.tracker_id, []).append((r.seq, r.t))
    too_soon = [
        (tid, a[0], b[0]) for tid, runs in times.items() for a, b in zip(runs, runs[1:]) if b[1] - a[1] < READ_EVERY_S - 1e-6
    ]
    assert not too_soon, f"(track, frame, next run's frame) under {READ_EVERY_S} s apart: {too_soon}"


def test_each_signs_object_end_event_carries_its_voted_text(signs_run):
    _, _, out, _ = signs_run
    events = [r for r in records(out) if r.get("record") == "event"]
    ends = [e for e in events if e["type"] == "object_end"]
    labels = sorted(e.get("attached", {}).get("reader", {}).get("label") for e in ends)
    assert labels == sorted(SIGNS), f"object_end events: {[(e['tracker_id'], e.get('attached')) for e in ends]}"
    for end in ends:
        reader = end["attached"]["reader"]
        assert reader["kind"] == "text" and reader["runs"] >= 2 and reader["votes"] >= 1


def test_a_sink_filter_on_attached_text_keeps_only_the_detections_read_as_ab(signs_run):
    _, _, out, ab = signs_run
    kept = [d for r in records(ab) for d in r["detections"]]
    assert kept, "the AB sign was read"
    assert all(d["attached"]["reader"]["label"].startswith("AB") for d in kept)
    everything = [d for r in records(out) if r.get("record") != "event" for d in r["detections"]]
    expected = [d for d in everything if d.get("attached", {}).get("reader", {}).get("label", "").startswith("AB")]
    assert kept == expected
    assert len(everything) > len(kept), "the other sign's detections were left out"


# -- bad input ---------------------------------------------------------------------------------


async def test_a_detector_as_secondary_is_refused_at_load_naming_the_cascade(nudenet_path, tmp_path):
    text = f"""models:
  faces: {{path: {nudenet_path}}}
  other: {{path: {nudenet_path}}}
sources:
  - name: cam
    url: a.mp4
    models: [faces]
    cascades:
      - {{model: other, name: face_kind, every: detection}}
sinks:
  - {{kind: jsonl, path: {tmp_path / "out.jsonl"}}}
"""
    config = parse_config(text, "cam.yaml", {})
    with pytest.raises(ModelLoadError) as info:
        models = await load_models(config)
        try:
            make_camera(config.sources[0], models.steps)
        finally:
            models.close()
    message = str(info.value)
    assert "face_kind" in message, message
    assert "must be a classifier, an OCR model or an embedding model" in message, message


async def test_min_size_below_what_a_classifier_can_use_is_refused_naming_the_cascade_and_the_minimum(
    nudenet_path, classifier_path, tmp_path
):
    text = f"""models:
  faces: {{path: {nudenet_path}}}
  kind: {{path: {classifier_path}}}
sources:
  - name: cam
    url: a.mp4
    models: [faces]
    cascades:
      - {{model: kind, name: face_kind, min_size: 4, every: detection}}
sinks:
  - {{kind: jsonl, path: {tmp_path / "out.jsonl"}}}
"""
    config = parse_config(text, "cam.yaml", {})
    models = await load_models(config)
    try:
        with pytest.raises(ConfigError) as info:
            make_camera(config.sources[0], models.steps)
    finally:
        models.close()
    message = str(info.value)
    assert "cascade 'face_kind'" in message and "min_size 4 px" in message and "(8 px)" in message, message


def test_vigil_check_names_the_line_of_a_camera_running_a_model_that_does_not_exist(nudenet_path, tmp_path):
    path = tmp_path / "vigil.yaml"
    path.write_text(
        f"models:\n  faces: {{path: {nudenet_path}}}\n"
        "sources:\n  - name: cam\n    url: a.mp4\n    models: [faces, plates]\n"  # models: line 6
        f"sinks:\n  - {{kind: jsonl, path: {tmp_path / 'out.jsonl'}}}\n"
    )
    result = subprocess.run([sys.executable, "-m", "vigil", "check", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("vigil: error: config "), result.stderr
    assert "line 6: sources[0].models[1]" in result.stderr and "'plates'" in result.stderr, result.stderr
