"""`vigil demo`: the whole pipeline on built-in material, in one command and under a minute.

The video is made here: a pan across scikit-image's astronaut photo (a synthetic pattern when
scikit-image is missing) with two signs drawn on it, encoded as H.264 with PyAV.

1. Detection, through the daemon (`vigil.daemon.service.Daemon`, in this process), so the web
   console is served while it runs (its URL is printed as soon as the API listens): the real
   YOLOv8n (320n.onnx) that ships inside the `nudenet` wheel (its classes include faces) over
   two sources reading the clip, one as fast as it decodes (a file) and one paced in real time
   (a camera). Results and events go to a JSONL file; annotated video and snapshots (of events
   too, the pictures of the console's events page) when supervision is installed. The file
   source also tracks the face (ByteTrack, the `tracking` extra) past a line and into a zone
   placed on its path: the events are printed as they come, and the demo fails unless the JSONL
   file shows the face crossed and entered. Once both sources have ended the daemon stops.
   With `serve=True` (`vigil demo --serve`) both sources loop in real time and the daemon serves
   until stopped (Ctrl-C / SIGTERM); there is no check and no OCR step then.
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
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from vigil.cli._demo_daemon import record_line, run_daemon
from vigil.config.daemon import DaemonConfig
from vigil.engine import AutoModel, TextDetections, TextRecognitionModel
from vigil.engine.developer_tools import import_rapidocr
from vigil.errors import ConfigError, MissingDependencyError, VigilError
from vigil.events import Event
from vigil.pipeline.observer import PipelineObserver
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.result import InferenceResult
from vigil.sinks import JsonlSink
from vigil.sources import FileSource

__all__ = ["DemoCheckError", "demo_config", "demo_model_path", "demo_shapes", "make_demo_clip", "run_demo"]

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
    except ImportError:  # the same NASA photo (public domain), kept in vigil for images without scikit-image
        photo = cv2.imread(str(importlib.resources.files("vigil.cli") / "data" / "astronaut.jpg"), cv2.IMREAD_COLOR)
        if photo is None:
            raise MissingDependencyError("the demo's photo is missing from this installation: reinstall vigil") from None
        return np.ascontiguousarray(photo)


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
    """The line and the zone of the demo's file source (its `lines` and `zones`), in pixels of
    the clip `make_demo_clip(path, seconds, fps)` makes: its pan stretches the photo to
    640 + 2F px wide (F frames) and moves 2 px a frame, so the face's centre starts at
    FACE_X * (640 + 2F) / 512 and goes left. The line stands where the face is at 35% of the
    clip, the zone begins where it is at 55%; each event is confirmed 0.5 s later (the zones
    stage's `min_seen_s`), before the clip ends even at 2 s."""
    frames = int(seconds * fps)
    start = FACE_X * (640 + 2 * frames) / 512
    line_x, zone_x = round(start - 0.7 * frames), round(start - 1.1 * frames)
    return {
        # Drawn bottom to top, so the left of the picture, where the face goes, is `in`.
        "lines": [{"name": "door", "start": [line_x, 470], "end": [line_x, 10]}],
        # Below the "GATE 7" sign, around the face's bottom centre (y ~ 175), the point tested.
        "zones": [{"name": "dock", "polygon": [[10, 100], [zone_x, 100], [zone_x, 320], [10, 320]]}],
    }


def _has_supervision() -> bool:
    if importlib.util.find_spec("supervision") is None:
        log.info("supervision is not installed: no annotated video or snapshots (pip install 'vigil-analytics[supervision]')")
        return False
    return True


def _can_track() -> bool:
    """Whether the tracking extra is there; without it the demo has no events step (said once)."""
    if importlib.util.find_spec("trackers") is None:
        from vigil.stages.tracking import MISSING_TRACKERS

        log.warning("no events step: %s", MISSING_TRACKERS)
        return False
    return True


def demo_config(
    out: Path, clip: Path, seconds: float, *, serve: bool = False, port: int = 0, tracking: bool = True, pictures: bool = True
) -> DaemonConfig:
    """The daemon's configuration of the demo: `clip` as a file read as fast as it decodes
    (`file`, tracked, with the line and zone of `demo_shapes`) and as a paced `camera`; results
    and events to `out/results.jsonl`, annotated video and snapshots (events too) with
    `pictures`; the API on 127.0.0.1:`port` (0: a free one), its state file under `out`.
    `serve`: both sources loop in real time; only events are written (no video, no results
    in the JSONL file: it runs until stopped, the disk must not fill)."""
    shapes = demo_shapes(seconds)
    looping = {"realtime": True, "loop": True} if serve else {}
    file: dict[str, Any] = {"name": "file", "url": str(clip), **looping}
    if tracking:
        file.update(tracking={"classes": list(TRACKED)}, zones=shapes["zones"], lines=shapes["lines"])
    records = ["events"] if serve else ["results", "events"]
    sinks: list[dict[str, Any]] = [{"kind": "jsonl", "path": str(out / "results.jsonl"), "records": records}]
    if pictures and not serve:
        sinks.append({"kind": "video", "directory": str(out / "video")})
    if pictures:
        sinks.append({"kind": "snapshot", "directory": str(out / "snapshots"), "interval_s": 2.0, "records": records})
    state = out / "state" / ("api-serve.json" if serve else "api-once.json")
    return DaemonConfig.model_validate(
        {
            "model": {"path": str(demo_model_path()), "image_size": 640},
            "sources": [file, {"name": "camera", "url": str(clip), "realtime": True, "loop": serve}],
            "batch": {"max_batch": 4},
            "sinks": sinks,
            "api": {"host": "127.0.0.1", "port": port, "state_file": str(state)},
            "shutdown_timeout_s": 10.0,
        }
    )


def event_line(event: Event) -> str:
    """One short line per event: `event 06:25:01.733 file line_cross line=door in track=1 (FACE_FEMALE)`."""
    return record_line(event.to_record())


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


def _said(line: str) -> None:
    print(line, flush=True)  # at once, also into a pipe: the console's URL is needed while it runs


async def run_demo(
    out: Path,
    seconds: float = 8.0,
    say: Callable[[str], None] = _said,
    *,
    serve: bool = False,
    port: int = 0,
    force: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run the demo into `out`, saying the console's URL once it listens and each event as it
    comes; returns the figures it prints. Raises `DemoCheckError` when tracking ran and the
    face made no line_cross or zone_enter. `serve`: loop until SIGINT/SIGTERM stops the daemon
    (`Daemon.serve`; a second one calls `force`); no check and no OCR then."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: give a TCP port from 1 to 65535, or 0 for a free one")
    clip = await asyncio.to_thread(make_demo_clip, out / "demo.mp4", seconds)
    tracking = _can_track()
    config = demo_config(out, clip, seconds, serve=serve, port=port, tracking=tracking, pictures=_has_supervision())
    results_file = out / "results.jsonl"
    offset = results_file.stat().st_size if results_file.is_file() else 0  # earlier runs' lines stay; not counted
    report = await run_daemon(config, say, serve, force)
    elapsed = report.elapsed_s  # the pipeline's run, from its sources' start to its end
    counts, classes = await asyncio.to_thread(_read_records, results_file, offset)
    if tracking and not serve:
        check_events(counts, out)
    return {
        "serve": serve,
        "events": counts if tracking else None,
        "ocr": None if serve else await _read_signs(clip, out),
        "model": Path(config.model.path).stem,
        "results": report.results,
        "per_source": {s.source_id: s.results for s in report.sources.values()},
        "seconds": round(elapsed, 1),
        "frames_per_s": round(report.results / elapsed, 1) if elapsed else 0.0,
        "detections": dict(classes.most_common()),
        "outputs": _outputs(out),
        "out": str(out),
    }


def _read_records(path: Path, offset: int) -> tuple[dict[str, int], Counter[str]]:
    """The event counts by type and the detections by class in the JSONL lines after `offset`."""
    events: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    if not path.is_file():
        return {}, classes
    with path.open("rb") as lines:
        lines.seek(offset)
        for line in lines:
            record = json.loads(line)
            if record.get("record") == "event":
                events[str(record["type"])] += 1
            else:
                classes.update(str(d.get("class_name")) for d in record.get("detections", ()))
    return dict(events), classes


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


def _ocr_line(ocr: dict[str, Any] | None, serve: bool) -> str:
    if serve:
        return "OCR: skipped (--serve: run `vigil demo` without it for the OCR step)"
    if ocr is None:
        return "OCR: skipped (rapidocr-onnxruntime is not installed)"
    verdict = "yes" if ocr["match"] else "NO"
    return (
        f"OCR over {ocr['frames']} frames: drawn {json.dumps(ocr['drawn'])}, read {json.dumps(ocr['read'])}; "
        f"texts read match the texts drawn: {verdict}"
    )


def _events_line(counts: dict[str, int] | None, serve: bool) -> str:
    if counts is None:
        return "events: skipped (the tracking extra is not installed: `make demo` installs it)"
    if serve:
        return f"events of 'file' while served: {json.dumps(counts)} (in results.jsonl)"
    return (
        f"events of 'file' (the face past line 'door' and into zone 'dock'): {json.dumps(counts)}; "
        "line_cross and zone_enter seen: yes"
    )


def summary_text(figures: dict[str, Any]) -> str:
    serve = bool(figures.get("serve"))
    paced = (
        "both sources looped in real time"
        if serve
        else "the camera is paced and drops what the model cannot keep up with; the file loses nothing"
    )
    lines = [
        f"vigil demo: {figures['results']} results from {len(figures['per_source'])} sources in "
        f"{figures['seconds']}s ({figures['frames_per_s']} frames/s) with {figures['model']}",
        *([] if serve else ["detections by class: " + (json.dumps(figures["detections"]) if figures["detections"] else "none")]),
        f"results per source: {json.dumps(figures['per_source'])} ({paced})",
        _events_line(figures["events"], serve),
        _ocr_line(figures["ocr"], serve),
        f"written to {figures['out']}: "
        + ", ".join(f"{name} ({n} file{'s' if n > 1 else ''})" for name, n in figures["outputs"].items()),
    ]
    return "\n".join(lines)
