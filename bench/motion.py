"""The motion gate (issue 17): inference calls, CPU seconds and event recall, gate on vs off.

Made by the script: `--cameras` 1280x720 H.264 clips at `--fps` (5), `--seconds` long, each a
real photo as a static scene (scikit-image's, the 16 backgrounds of tests/support/scenes.py)
with sensor noise (Gaussian, sigma 3, different each frame) and the astronaut's face (1.5x, the
nudenet model finds it) walking across the frame once, for about 10% of the time, each camera at
another moment; one camera has its light switched on (x1.35 brightness) at 70% of the clip.
Every camera has tracking and a vertical line in its middle (object_start, line_cross,
object_end events).

The same pipeline (real nudenet model, `make_camera` from a YAML config) runs twice in one
process, gate off then on (`sources[].motion: {enabled: ...}`), over the same clips. Figures per
mode: frames inferred (results) and model calls (batches), the process's CPU seconds during
the run (user + system, every thread), wall seconds, skipped frames. `decode_cpu_s` is the
CPU of decoding the clips alone, which both modes pay for every frame: it bounds `less_cpu`
(`less_cpu_beyond_decoding` leaves it out of both). Event recall = the share of
the gate-off events (same camera, type, line and direction, within `--tolerance-s` of stream
time) that the gate-on run also made, and its precision the other way round. Prints one JSON
object.

    python bench/motion.py                          # 16 cameras, 40 s each
    python bench/motion.py --seconds 60 --realtime  # paced like cameras (drops when the CPU cannot keep up)

Files are read as fast as the pipeline takes them by default (nothing dropped), so both modes
do all their work. Paced (`--realtime`) on a shared 2-core machine, the gate-off run could not
keep up (2241 of 3200 frames inferred, the rest dropped as stale, events lost with them) while
the gate-on run inferred every frame it let through: its figures then compare a degraded
reference, and its model calls are many small batches (frames with motion come one at a time).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the photos and the face

from tests.conftest import photo  # noqa: E402
from tests.support.scenes import BACKGROUNDS  # noqa: E402
from tests.support.scripted_clip import face_crop  # noqa: E402
from vigil.config.loader import parse_config  # noqa: E402
from vigil.daemon.assemble import make_camera  # noqa: E402
from vigil.engine import AutoModel  # noqa: E402
from vigil.events import Event  # noqa: E402
from vigil.pipeline import Pipeline, PipelineOptions  # noqa: E402
from vigil.pipeline.observer import PipelineObserver  # noqa: E402
from vigil.result import InferenceResult  # noqa: E402
from vigil.sinks.base import Sink  # noqa: E402

SIZE = (1280, 720)
FACE_SCALE = 1.5
LIT_CAMERA, LIT_AT, LIT_GAIN = 5, 0.7, 1.35


def render(path: Path, camera: int, args: argparse.Namespace) -> Path:
    """Camera `camera`'s clip: its photo, noise, the face walking across once, maybe the light."""
    rng = np.random.default_rng(camera)
    scene = cv2.resize(photo(BACKGROUNDS[camera % len(BACKGROUNDS)]), SIZE, interpolation=cv2.INTER_AREA)
    lit = np.clip(scene.astype(np.float32) * LIT_GAIN, 0, 255).astype(np.uint8)
    face = cv2.resize(face_crop(), None, fx=FACE_SCALE, fy=FACE_SCALE, interpolation=cv2.INTER_AREA)
    fh, fw = face.shape[:2]
    frames = round(args.seconds * args.fps)
    walk = max(2, round(0.1 * frames))
    begin = int(rng.integers(1, frames - walk - 1))  # each camera its own moment
    y = int(rng.integers(0, SIZE[1] - fh))
    noise = [rng.normal(0, 3.0, scene.shape).astype(np.int16) for _ in range(8)]  # drawn from, per frame
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=args.fps)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.options = {"crf": "23", "g": str(2 * args.fps), "bf": "2", "preset": "veryfast"}
        stream.time_base = Fraction(1, args.fps * 512)
        for i in range(frames):
            image = (lit if camera == LIT_CAMERA and i >= LIT_AT * frames else scene).copy()
            if begin <= i < begin + walk:  # from beyond the left edge to beyond the right one
                x = round(-fw + (SIZE[0] + fw) * (i - begin + 0.5) / walk)
                left, right = max(x, 0), min(x + fw, SIZE[0])
                image[y : y + fh, left:right] = face[:, left - x : right - x]
            shift = int(rng.integers(0, SIZE[0]))  # a field rolled sideways: new noise each frame, cheaply
            grain = np.roll(noise[int(rng.integers(len(noise)))], shift, axis=1)
            noisy = np.clip(image + grain, 0, 255).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(noisy, format="bgr24")))
        container.mux(stream.encode())
    return path


def config_text(clips: Sequence[Path], model: Path, gate: bool, realtime: bool) -> str:
    sources = "".join(
        f"""
  - name: cam{i:02d}
    url: {clip}
    realtime: {str(realtime).lower()}
    motion: {{enabled: {str(gate).lower()}}}
    tracking: {{classes: [FACE_FEMALE, FACE_MALE], track_activation_threshold: 0.5, high_confidence_threshold: 0.5}}
    lines: [{{name: middle, start: [{SIZE[0] // 2}, 0], end: [{SIZE[0] // 2}, {SIZE[1]}]}}]"""
        for i, clip in enumerate(clips)
    )
    return f"model:\n  path: {model}\nsources:{sources}\nsinks:\n  - {{kind: jsonl, path: unused.jsonl}}\n"


class Figures(PipelineObserver):
    """Batches, results per source (the offset of its capture clock), drops and events."""

    def __init__(self) -> None:
        self.batches = self.results = 0
        self.drops: dict[str, int] = {}  # the batcher's, by cause (paced: stale, lane_full)
        self.offsets: dict[str, float] = {}  # source -> capture time - pts
        self.made: list[Event] = []

    def batch_done(
        self, size: int, padded_to: int, pre_ms: float, infer_ms: float, post_ms: float, model: str = "default"
    ) -> None:
        self.batches += 1

    def frames_dropped(self, source_id: str, cause: str, count: int) -> None:
        self.drops[cause] = self.drops.get(cause, 0) + count

    def result(self, result: InferenceResult) -> None:
        self.results += 1
        frame = result.frame
        self.offsets.setdefault(frame.source_id, frame.capture_time.timestamp() - frame.pts)

    def events(self, events: Sequence[Event]) -> None:
        self.made.extend(events)


class Nowhere(Sink):
    name = "nowhere"

    async def publish(self, result: InferenceResult) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def close(self) -> None:
        pass


def run(clips: Sequence[Path], model_path: Path, gate: bool, args: argparse.Namespace) -> dict[str, Any]:
    config = parse_config(config_text(clips, model_path, gate, args.realtime), "bench.yaml", {})
    cameras = {s.name: make_camera(s) for s in config.sources}
    model = AutoModel.from_pretrained(model_path)
    figures = Figures()
    pipeline = Pipeline(
        model,
        [source for source, _ in cameras.values()],
        [Nowhere()],
        PipelineOptions(max_batch=args.max_batch),
        figures,
        {name: stages for name, (_, stages) in cameras.items()},
    )
    cpu, wall = _cpu_seconds(), time.monotonic()
    report = asyncio.run(pipeline.run())
    cpu, wall = _cpu_seconds() - cpu, time.monotonic() - wall
    model.close()
    assert not report.failed_sources, report.failed_sources
    skipped: dict[str, int] = {}
    dropped: dict[str, int] = dict(figures.drops)
    for source, _ in cameras.values():
        for cause, n in source.stats.skipped.items():
            skipped[cause] = skipped.get(cause, 0) + n
        for cause, n in source.stats.dropped.items():
            dropped[cause] = dropped.get(cause, 0) + n
    gates = [g for source, _ in cameras.values() for g in source.gates.gates]
    return {
        "frames_inferred": figures.results,
        "model_calls": figures.batches,
        "cpu_s": round(cpu, 1),
        "wall_s": round(wall, 1),
        "skipped": skipped,
        "dropped": dropped,
        "keepalives": sum(g.keepalives for g in gates),
        "relit": sum(g.relit for g in gates),
        "event_types": _count(e.type for e in figures.made),
        "_events": [_key(e, figures.offsets) for e in figures.made],
    }


def decode_floor(clips: Sequence[Path]) -> float:
    """CPU seconds of decoding every clip to BGR as the sources do (threads as FFmpeg picks),
    nothing else: what every frame costs with the gate on or off."""
    cpu = _cpu_seconds()
    for clip in clips:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frame.to_ndarray(format="bgr24")
    return _cpu_seconds() - cpu


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def _key(event: Event, offsets: dict[str, float]) -> tuple[str, str, str, str, float]:
    """(camera, type, line, direction, stream time) of an event, comparable across runs."""
    return (
        event.source,
        event.type,
        event.line or "",
        event.direction or "",
        event.capture_time.timestamp() - offsets[event.source],
    )


def matched(reference: list[tuple[Any, ...]], other: list[tuple[Any, ...]], tolerance_s: float) -> int:
    """How many events of `reference` have their own counterpart in `other` (same camera, type,
    line, direction; nearest in time within the tolerance)."""
    left = list(other)
    count = 0
    for *what, t in reference:
        near = [k for k, (*w, u) in enumerate(left) if w == what and abs(u - t) <= tolerance_s]
        if near:
            left.pop(min(near, key=lambda k: abs(left[k][-1] - t)))
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=40.0, help="Length of each camera's clip.")
    parser.add_argument("--fps", type=int, default=5)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--realtime", action="store_true", help="Pace the files like cameras.")
    parser.add_argument("--tolerance-s", type=float, default=1.0, help="Events match within this much stream time.")
    args = parser.parse_args()
    model_path = Path(str(importlib.resources.files("nudenet") / "320n.onnx"))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            clips = list(pool.map(lambda i: render(Path(tmp) / f"cam{i:02d}.mp4", i, args), range(args.cameras)))
        made_s = time.monotonic() - started
        off = run(clips, model_path, False, args)
        on = run(clips, model_path, True, args)
        decode_s = decode_floor(clips)
    events_off, events_on = off.pop("_events"), on.pop("_events")
    frames = args.cameras * round(args.seconds * args.fps)
    print(
        json.dumps(
            {
                "cameras": args.cameras,
                "size": list(SIZE),
                "fps": args.fps,
                "seconds": args.seconds,
                "frames": frames,
                "paced": args.realtime,
                "clips_made_s": round(made_s, 1),
                "off": off,
                "on": on,
                "fewer_inference_calls": round(off["frames_inferred"] / max(on["frames_inferred"], 1), 2),
                "fewer_model_calls": round(off["model_calls"] / max(on["model_calls"], 1), 2),
                "less_cpu": round(off["cpu_s"] / max(on["cpu_s"], 1e-9), 2),
                "decode_cpu_s": round(decode_s, 1),
                "less_cpu_beyond_decoding": round((off["cpu_s"] - decode_s) / max(on["cpu_s"] - decode_s, 1e-9), 2),
                "event_recall": round(matched(events_off, events_on, args.tolerance_s) / max(len(events_off), 1), 4),
                "event_precision": round(matched(events_on, events_off, args.tolerance_s) / max(len(events_on), 1), 4),
                "load_average": [round(v, 2) for v in os.getloadavg()],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
