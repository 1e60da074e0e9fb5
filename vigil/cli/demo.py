"""`vigil demo`: the whole pipeline on built-in material, in one command and under a minute.

The video is made here: a pan across scikit-image's astronaut photo (a synthetic pattern when
scikit-image is missing) with two signs drawn on it, encoded as H.264 with PyAV.

1. Detection: the real YOLOv8n (320n.onnx) that ships inside the `nudenet` wheel (its classes
   include faces) over two sources reading the clip, one as fast as it decodes (a file) and one
   paced in real time (a camera). Results go to a JSONL file; annotated video and snapshots
   too when supervision is installed. The file source also tracks the face (ByteTrack, the
   `tracking` extra) past a line and into a zone placed on its path: the events are printed as
   they come, written to the JSONL file, and the demo fails unless the face crossed and entered.
2. OCR: the PP-OCRv4 models inside the `rapidocr-onnxruntime` wheel, imported as a vigil model
   package, read the signs twice a second; the demo checks that the texts read are the texts
   drawn.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import importlib.util
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from vigil.pipeline.observer import PipelineObserver
from vigil.pipeline.runner import Pipeline, PipelineOptions, PipelineReport
from vigil.engine import AutoModel, ObjectDetectionModel, TextDetections, TextRecognitionModel
from vigil.engine.developer_tools import import_rapidocr
from vigil.errors import MissingDependencyError, VigilError
from vigil.events import Event
from vigil.result import InferenceResult
from vigil.sinks import JsonlSink, Sink
from vigil.sources import FileSource
from vigil.stages.base import Stage

__all__ = ["DemoCheckError", "demo_model_path", "demo_shapes", "make_demo_clip", "run_demo"]

log = logging.getLogger(__name__)


def demo_model_path() -> Path:
    try:
        return Path(str(importlib.resources.files("nudenet") / "320n.onnx"))
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(
            "the demo model comes in the nudenet wheel: pip install 'vigil-analytics[demo]' (or run `make demo`)"
        ) from exc


def _demo_photo() -> np.ndarray:
    try:
        import skimage.data

        return np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])
    except ImportError:
        y, x = np.mgrid[0:512, 0:512]
        return np.dstack([x % 256, y % 256, (x + y) % 256]).astype(np.uint8)


SIGNS = ("GATE 7", "VIGIL DEMO")  # drawn on every frame; OCR must read them back


def _draw_signs(image: np.ndarray) -> None:
    for text, (x, y) in zip(SIGNS, ((24, 24), (360, 400))):
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.2, 3)
        cv2.rectangle(image, (x, y), (x + w + 24, y + h + 28), (255, 255, 255), -1)
        cv2.putText(image, text, (x + 12, y + h + 14), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 3, cv2.LINE_AA)


def make_demo_clip(path: Path, seconds: float = 8.0, fps: int = 15) -> Path:
    """A 640x480 H.264 clip panning across the photo, signs on top, with B-frames like a
    camera's stream."""
    frames = int(seconds * fps)
    base = cv2.resize(_demo_photo(), (640 + frames * 2, 480), interpolation=cv2.INTER_AREA)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.options = {"crf": "23", "g": str(fps), "bf": "2", "preset": "veryfast"}
        stream.time_base = Fraction(1, fps * 512)
        for i in range(frames):
            image = np.ascontiguousarray(base[:, i * 2 : i * 2 + 640], dtype=np.uint8)
            _draw_signs(image)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


FACE_X = 225  # the centre of the astronaut's face (YOLOv8n's box) in the 512-px photo
TRACKED = ["FACE_FEMALE", "FACE_MALE"]


def demo_shapes(seconds: float = 8.0, fps: int = 15) -> dict[str, Any]:
    """The line and the zone of the demo's file source (a `zones` stage config), in pixels of
    the clip `make_demo_clip(path, seconds, fps)` makes: its pan stretches the photo to
    640 + 2F px wide (F frames) and moves 2 px a frame, so the face's centre starts at
    FACE_X * (640 + 2F) / 512 and goes left. The line stands where the face is at 35% of the
    clip, the zone begins where it is at 55%; each event is confirmed `min_seen_s` later, well
    before the clip ends."""
    frames = int(seconds * fps)
    start = FACE_X * (640 + 2 * frames) / 512
    line_x, zone_x = round(start - 0.7 * frames), round(start - 1.1 * frames)
    return {
        # Drawn bottom to top, so the left of the picture, where the face goes, is `in`.
        "lines": [{"name": "door", "start": [line_x, 470], "end": [line_x, 10]}],
        # Below the "GATE 7" sign, around the face's bottom centre (y ~ 175), the point tested.
        "zones": [{"name": "dock", "polygon": [[10, 100], [zone_x, 100], [zone_x, 320], [10, 320]]}],
        "min_seen_s": 0.3,
    }


def _event_stages(seconds: float) -> list[Stage] | None:
    """Tracking and zones for the file source; None (said once) without the tracking extra."""
    from vigil.config.zones import ZonesStageConfig
    from vigil.stages.base import StageContext
    from vigil.stages.tracking import TrackingStage, TrackingStageConfig
    from vigil.stages.zones import ZoneStage

    context = StageContext("file")
    try:
        return [TrackingStage(TrackingStageConfig(classes=list(TRACKED)), context),
                ZoneStage(ZonesStageConfig.model_validate(demo_shapes(seconds)), context)]
    except MissingDependencyError as exc:
        log.warning("no events step: %s", exc)
        return None


def event_line(event: Event) -> str:
    """One short line per event: `event 06:25:01.733 file line_cross line=door in track=1 (FACE_FEMALE)`."""
    at = event.capture_time
    parts = ["event", f"{at:%H:%M:%S}.{at.microsecond // 1000:03d}", event.source, event.type]
    if event.zone is not None:
        parts.append(f"zone={event.zone}")
    if event.line is not None:
        parts.append(f"line={event.line} {event.direction}")
    parts.append(f"track={event.tracker_id} ({event.class_name})")
    return " ".join(parts)


class _EventPrinter(Sink):
    """A sink of events only: says each one as it comes and counts them by type."""

    name = "events"
    kind = "demo-events"
    records = frozenset({"events"})
    takes_events = True

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.counts: Counter[str] = Counter()

    async def publish(self, result: InferenceResult) -> None:
        pass  # it takes events only: the fanout sends it no results

    async def publish_event(self, event: Event) -> None:
        self.counts[event.type] += 1
        self.say(event_line(event))

    async def flush(self) -> None:
        pass

    async def close(self) -> None:
        pass


class DemoCheckError(VigilError):
    """The demo's own check failed: the face did not make the events its path was drawn for."""


def check_events(counts: dict[str, int], out: Path) -> None:
    """Raise `DemoCheckError` unless the face crossed the line and entered the zone."""
    missing = [kind for kind in ("line_cross", "zone_enter") if not counts.get(kind)]
    if missing:
        raise DemoCheckError(
            f"demo check failed: the tracked face should cross line 'door' and enter zone 'dock' of source "
            f"'file', but no {' and no '.join(missing)} event came (events: {json.dumps(dict(counts))}); "
            f"the shapes and boxes are drawn in {out / 'video'}, the records are in {out / 'results.jsonl'}"
        )


class _Progress(PipelineObserver):
    def __init__(self) -> None:
        self.classes: Counter[str] = Counter()
        self.results = 0

    def result(self, result: InferenceResult) -> None:
        self.results += 1
        names = getattr(result.detections, "class_name", None)
        if names is not None:
            self.classes.update(str(n) for n in names)


def _optional_sinks(out: Path) -> list[Sink]:
    try:
        import supervision  # noqa: F401
    except ImportError:
        log.info("supervision is not installed: no annotated video or snapshots (pip install 'vigil-analytics[supervision]')")
        return []
    from vigil.sinks.snapshot import SnapshotSink
    from vigil.sinks.video import AnnotatedVideoSink

    return [AnnotatedVideoSink(out / "video"), SnapshotSink(out / "snapshots", interval_s=2.0)]


async def run_demo(out: Path, seconds: float = 8.0, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo into `out`, saying each event as it comes; returns the figures it prints.
    Raises `DemoCheckError` when tracking ran and the face made no line_cross or zone_enter."""
    clip = await asyncio.to_thread(make_demo_clip, out / "demo.mp4", seconds)
    model = await asyncio.to_thread(AutoModel.from_pretrained, demo_model_path(), image_size=640)
    assert isinstance(model, ObjectDetectionModel)
    sources = [FileSource("file", clip), FileSource("camera", clip, realtime=True)]
    jsonl = JsonlSink(out / "results.jsonl")
    jsonl.records = frozenset({"results", "events"})
    events = _EventPrinter(say)
    sinks: list[Sink] = [jsonl, events, *_optional_sinks(out)]
    stages = _event_stages(seconds)
    progress = _Progress()
    pipeline = Pipeline(model, sources, sinks, PipelineOptions(max_batch=4), progress,
                        stages={"file": stages} if stages else None)
    started = time.monotonic()
    try:
        report: PipelineReport = await pipeline.run()
    finally:
        model.close()
    elapsed = time.monotonic() - started
    if stages:
        check_events(events.counts, out)
    return {
        "events": dict(events.counts) if stages else None,
        "ocr": await _read_signs(clip, out),
        "model": model.model_id,
        "results": report.results,
        "per_source": {s.source_id: s.results for s in report.sources.values()},
        "seconds": round(elapsed, 1),
        "frames_per_s": round(report.results / elapsed, 1) if elapsed else 0.0,
        "detections": dict(progress.classes.most_common()),
        "outputs": _outputs(out),
        "out": str(out),
    }


def _key(text: str) -> str:
    """Texts compared without case or spaces (OCR often joins or splits words)."""
    return "".join(text.upper().split())


class _Texts(PipelineObserver):
    def __init__(self) -> None:
        self.read: Counter[str] = Counter()  # what was read, as read
        self.frames = 0
        self.found: Counter[str] = Counter()  # frames in which each sign was read

    def result(self, result: InferenceResult) -> None:
        if isinstance(result.detections, TextDetections):
            self.frames += 1
            lines = [str(t) for t in result.detections.text]
            self.read.update(lines)
            self.found.update(sign for sign in SIGNS if _key(sign) in {_key(line) for line in lines})


async def _read_signs(clip: Path, out: Path) -> dict[str, Any] | None:
    """OCR over the clip twice a second; None when rapidocr-onnxruntime is not installed."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        log.warning("rapidocr-onnxruntime is not installed: no OCR step (`make demo` installs it)")
        return None
    model_dir = out / "models" / "ppocr"
    if not (model_dir / "model.json").is_file():
        source = Path(list(spec.submodule_search_locations)[0])
        await asyncio.to_thread(import_rapidocr, source, model_dir, out / "models" / "scratch")
    model = await asyncio.to_thread(AutoModel.from_pretrained, model_dir)
    assert isinstance(model, TextRecognitionModel)
    texts = _Texts()
    sources = [FileSource("signs", clip, max_fps=2)]
    await Pipeline(model, sources, [JsonlSink(out / "texts.jsonl")], PipelineOptions(max_batch=2), texts).run()
    model.close()
    return {
        "drawn": list(SIGNS),
        "read": dict(texts.read.most_common(6)),
        "frames": texts.frames,
        "match": texts.frames > 0 and all(texts.found[sign] >= 0.8 * texts.frames for sign in SIGNS),
    }


def _outputs(out: Path) -> dict[str, int]:
    """Files written per top-level entry of `out` (the demo clip aside)."""
    counts: Counter[str] = Counter()
    for path in out.rglob("*"):
        if path.is_file() and path.name != "demo.mp4":
            counts[path.relative_to(out).parts[0]] += 1
    return dict(sorted(counts.items()))


def _ocr_line(ocr: dict[str, Any] | None) -> str:
    if ocr is None:
        return "OCR: skipped (rapidocr-onnxruntime is not installed)"
    verdict = "yes" if ocr["match"] else "NO"
    return (
        f"OCR over {ocr['frames']} frames: drawn {json.dumps(ocr['drawn'])}, read {json.dumps(ocr['read'])}; "
        f"texts read match the texts drawn: {verdict}"
    )


def _events_line(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "events: skipped (the tracking extra is not installed: `make demo` installs it)"
    return (f"events of 'file' (the face past line 'door' and into zone 'dock'): {json.dumps(counts)}; "
            "line_cross and zone_enter seen: yes")


def summary_text(figures: dict[str, Any]) -> str:
    lines = [
        f"vigil demo: {figures['results']} results from {len(figures['per_source'])} sources in "
        f"{figures['seconds']}s ({figures['frames_per_s']} frames/s) with {figures['model']}",
        "detections by class: " + (json.dumps(figures["detections"]) if figures["detections"] else "none"),
        f"results per source: {json.dumps(figures['per_source'])} (the camera is paced and drops what the model "
        "cannot keep up with; the file loses nothing)",
        _events_line(figures["events"]),
        _ocr_line(figures["ocr"]),
        f"written to {figures['out']}: " + ", ".join(f"{name} ({n} file{'s' if n > 1 else ''})" for name, n in figures["outputs"].items()),
    ]
    return "\n".join(lines)
