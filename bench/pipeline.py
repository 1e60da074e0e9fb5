"""Pipeline throughput against raw onnxruntime, and live latency.

Throughput (default): vigil's Pipeline over K copies of a 640x480 H.264 clip (decode -> batch
-> pre-process -> infer -> post-process -> JSONL) against raw `session.run` on tensors
pre-processed beforehand, in the same process. A sweep over `--raw-batches` picks the raw
baseline's best batch; then `--rounds` rounds of pipeline, raw: each round's ratio is the
pipeline against the mean of the raw runs either side of it (the P1 efficiency: 1.0 = the
pipeline costs nothing beyond inference), and the median round is the figure, because this
machine's speed drifts by 5-10% from one minute to the next. The profile of the median round
says where the time goes: CPU seconds per frame by thread group (onnxruntime's threads,
decoding, the pre/post-processing workers, the event loop; from /proc/self/task) against raw
onnxruntime's CPU per frame, and a batch's pre/infer/post milliseconds inside the pipeline
against the raw session.run of the same batch.

Zones (`--zones`): the same pipeline with and without tracking + 4 zones + 2 lines on every
source (ByteTrack, then the zones stage; events written to the JSONL file too), same sources,
same model, in one process, alternated off/on/on/off so drift in the machine's speed lands on
both sides; prints frames/s of each and the ratio on/off (1.0 = tracking and zones cost nothing).

Live (`--live SECONDS`): K sources paced at `--fps` (looping files played in real time, like
cameras); prints capture-to-sink latency p50/p99 per window, so drift over time shows, plus
drops and the event loop's lag.

    python bench/pipeline.py                      # nudenet YOLOv8n at 640, 4 clips
    python bench/pipeline.py --model yolov8n.onnx --clips 4 --frames 300
    python bench/pipeline.py --live 300 --fps 15  # 4 paced sources for 5 minutes
    python bench/pipeline.py --zones              # tracking + 4 zones + 2 lines on vs off
    python bench/pipeline.py --model models/yolov8n --backend trt   # a TensorRT package (GPU)

With `--backend trt` the baseline is the same engine run raw (copy in, execute, copy out through
vigil's TensorRT runner, no decode or pre/post-processing) instead of onnxruntime.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vigil.engine import AutoModel
from vigil.events import Event
from vigil.pipeline.observer import PipelineObserver
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.result import InferenceResult
from vigil.sinks import JsonlSink
from vigil.sources import FileSource
from vigil.stages.base import Stage

GOLDEN_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "golden" / "video" / "kenburns_640x480_30fps.mp4"


class Figures(PipelineObserver):
    def __init__(self) -> None:
        self.batch_sizes: Counter[int] = Counter()
        self.lags: list[float] = []
        self.latencies: list[tuple[float, float]] = []  # (monotonic time, ms since capture)
        self.drops: Counter[str] = Counter()
        self.event_types: Counter[str] = Counter()
        self.stage_ms: dict[str, list[float]] = {"pre": [], "infer": [], "post": []}

    def batch_done(
        self, size: int, padded_to: int, pre_ms: float, infer_ms: float, post_ms: float, model: str = "default"
    ) -> None:
        self.batch_sizes[size] += 1
        for key, ms in (("pre", pre_ms), ("infer", infer_ms), ("post", post_ms)):
            self.stage_ms[key].append(ms)

    def loop_lag(self, seconds: float) -> None:
        self.lags.append(seconds * 1e3)

    def result(self, result: InferenceResult) -> None:
        if result.timings.since_capture is not None:
            self.latencies.append((time.monotonic(), result.timings.since_capture))

    def frames_dropped(self, source_id: str, cause: str, count: int) -> None:
        self.drops[cause] += count

    def events(self, events: Sequence[Event]) -> None:
        self.event_types.update(e.type for e in events)


class ThreadCpu:
    """CPU seconds of this process's threads, by what they do, from /proc/self/task (Linux).

    Threads are told apart by name: vigil's own (`decode-*`, `vigil-infer*`, `vigil-work*`, the
    event loop in `MainThread`), FFmpeg's decoder threads (`av:*`), and the unnamed native threads
    born while the model loads or runs, which are onnxruntime's intra-op pool. Threads end during
    a run (decoders at the end of their file, executors at stop), so a sampler reads them every
    `every_s` and keeps each thread's last reading. `start()` before the model loads, `loaded()`
    after, `stop()` when the run ends; `split()` gives seconds per group."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, every_s: float = 0.1) -> None:
        self.every_s = every_s
        self.before: dict[int, int] = {}
        self.pool: set[int] = set()
        self.seen: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="bench-cpu-sampler", daemon=True)

    @staticmethod
    def _ticks() -> dict[int, tuple[str, int]]:
        python_names = {t.native_id: t.name for t in threading.enumerate()}
        out = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the thread ended between listing and reading
                continue
            out[int(tid)] = (python_names.get(int(tid)) or comm, int(fields[11]) + int(fields[12]))
        return out

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            self.seen.update(self._ticks())

    def start(self) -> None:
        self.before = {tid: ticks for tid, (_, ticks) in self._ticks().items()}
        self._sampler.start()

    def loaded(self) -> None:
        """Threads that exist now and did not before are the model's (onnxruntime's pool)."""
        self.pool = set(self._ticks()) - set(self.before)

    def stop(self) -> None:
        self._stop.set()
        self._sampler.join()
        self.seen.update(self._ticks())

    def split(self) -> dict[str, float]:
        groups: Counter[str] = Counter()
        for tid, (name, ticks) in self.seen.items():
            used = (ticks - self.before.get(tid, 0)) / self.TICK
            if name.startswith("vigil-infer") or tid in self.pool:
                group = "inference (onnxruntime)"
            elif name.startswith(("decode-", "av:")):
                group = "decode (PyAV + gate)"
            elif name.startswith("vigil-work"):
                group = "pre/post-processing workers"
            elif name == "MainThread":
                group = "event loop"
            elif name == "bench-cpu-sampler":
                continue
            else:
                group = f"other ({name})"
            groups[group] += used
        return {k: round(v, 2) for k, v in sorted(groups.items())}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def make_clip(path: Path, frames: int, fps: int = 30, size: tuple[int, int] = (640, 480)) -> Path:
    """A `size` (640x480) H.264 clip panning over scikit-image's astronaut (or a gradient without skimage)."""
    try:
        import skimage.data

        photo = skimage.data.astronaut()[:, :, ::-1]
    except ImportError:
        photo = np.dstack(np.meshgrid(np.arange(512), np.arange(512)) + [np.zeros((512, 512), int)]).astype(np.uint8)
    width, height = size
    base = cv2.resize(np.ascontiguousarray(photo), (width + frames, height))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "28", "g": str(fps), "bf": "2"}
        stream.time_base = Fraction(1, fps * 512)
        for i in range(frames):
            img = np.ascontiguousarray(base[:, i : i + width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        container.mux(stream.encode())
    return path


def first_frames(path: Path, n: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="bgr24"))
            if len(out) == n:
                return out
    return out


def bench_pipeline(
    args: argparse.Namespace, clip: Path, workdir: Path, stages: Callable[[str], list[Stage]] | None = None
) -> tuple[float, int, dict]:
    """Frames/s of the pipeline over `args.clips` copies of `clip`; `stages(source_id)` makes
    each source's stages (their events go to the JSONL file too). The stats say where the CPU
    went (seconds per thread group) and how long a batch took inside the pipeline."""
    cpu = ThreadCpu()
    cpu.start()
    model = load_model(args, intra_op_threads=args.threads, allow_spinning=args.spin)
    cpu.loaded()
    sources = [FileSource(f"cam{i}", clip, decode_threads=args.decode_threads) for i in range(args.clips)]
    options = PipelineOptions(max_batch=args.max_batch, max_delay_ms=args.max_delay_ms, worker_threads=args.workers)
    figures = Figures()
    jsonl = JsonlSink(workdir / "results.jsonl")
    if stages is not None:
        jsonl.records = frozenset({"results", "events"})
    chains = {s.source_id: stages(s.source_id) for s in sources} if stages is not None else None
    pipeline = Pipeline(model, sources, [jsonl], options, figures, stages=chains)
    report = asyncio.run(pipeline.run())
    cpu.stop()
    model.close()
    assert not report.failed_sources, report.failed_sources
    stats = {
        "batches": report.batches,
        "mean_batch": report.results / max(report.batches, 1),
        "batch_sizes": dict(sorted(figures.batch_sizes.items())),
        "loop_lag_p99_ms": percentile(figures.lags, 99),
        "events": dict(figures.event_types),
        "cpu_s": cpu.split(),
        "elapsed_s": round(report.elapsed_s, 2),
        "batch_ms": {k: round(float(np.mean(v)), 2) if v else 0.0 for k, v in figures.stage_ms.items()},
        "infer_busy": round(sum(figures.stage_ms["infer"]) / 1000 / report.elapsed_s, 3),
    }
    return report.results / report.elapsed_s, report.results, stats


def zone_stages(source: str) -> list[Stage]:
    """Tracking + 4 zones (the frame's quarters) + 2 lines (its middles), as a source's
    `tracking:`, `zones:` and `lines:` make them."""
    from vigil.config.zones import ZonesStageConfig
    from vigil.stages.base import StageContext
    from vigil.stages.tracking import TrackingStage, TrackingStageConfig
    from vigil.stages.zones import ZoneStage

    quarters = [[[x, y], [x + 0.5, y], [x + 0.5, y + 0.5], [x, y + 0.5]] for x in (0, 0.5) for y in (0, 0.5)]
    config = ZonesStageConfig.model_validate(
        {
            "zones": [{"name": f"quarter{i}", "polygon": q, "normalized": True} for i, q in enumerate(quarters)],
            "lines": [
                {"name": "vertical", "start": [0.5, 0], "end": [0.5, 1], "normalized": True},
                {"name": "horizontal", "start": [0, 0.5], "end": [1, 0.5], "normalized": True},
            ],
        }
    )
    context = StageContext(source)
    return [TrackingStage(TrackingStageConfig(), context), ZoneStage(config, context)]


def bench_zones(args: argparse.Namespace, clip: Path, workdir: Path) -> dict:
    """Tracking + zones off and on, alternated off/on/on/off; frames/s of each and on/off."""
    runs: dict[str, list[float]] = {"off": [], "on": []}
    events: dict = {}
    for mode in ("off", "on", "on", "off"):
        fps, frames, stats = bench_pipeline(args, clip, workdir, zone_stages if mode == "on" else None)
        runs[mode].append(fps)
        events = stats["events"] or events
    off, on = (float(np.mean(runs[m])) for m in ("off", "on"))
    return {
        "model": Path(args.model).name,
        "sources": args.clips,
        "frames": frames,
        "stages_on": "tracking + zones (4 zones, 2 lines)",
        "off_fps": round(off, 2),
        "on_fps": round(on, 2),
        "runs_fps": {m: [round(v, 2) for v in runs[m]] for m in runs},
        "ratio_on_off": round(on / off, 4),
        "cost_pct": round(100 * (1 - on / off), 2),
        "events_per_run": events,
    }


def bench_live(args: argparse.Namespace, workdir: Path) -> dict:
    """K paced, looping sources for `args.live` seconds; latency per window."""
    clip = make_clip(workdir / "live.mp4", args.fps * 20, fps=args.fps)
    model = load_model(args, intra_op_threads=args.threads)
    sources = [
        FileSource(f"cam{i}", clip, realtime=True, loop=True, decode_threads=args.decode_threads) for i in range(args.clips)
    ]
    options = PipelineOptions(max_batch=args.max_batch, max_delay_ms=args.max_delay_ms, worker_threads=args.workers)
    figures = Figures()
    pipeline = Pipeline(model, sources, [JsonlSink(workdir / "live.jsonl")], options, figures)

    async def run() -> None:
        task = asyncio.create_task(pipeline.run())
        await asyncio.sleep(args.live)
        pipeline.request_stop()
        await task

    started = time.monotonic()
    asyncio.run(run())
    window = max(args.live / 5, 1.0)
    rows = []
    for k in range(int(np.ceil(args.live / window))):
        values = [ms for t, ms in figures.latencies if started + k * window <= t < started + (k + 1) * window]
        rows.append(
            {
                "window_s": [round(k * window), round((k + 1) * window)],
                "results": len(values),
                "p50_ms": round(percentile(values, 50), 1),
                "p99_ms": round(percentile(values, 99), 1),
            }
        )
    all_ms = [ms for _, ms in figures.latencies]
    source_drops = Counter[str]()
    for source in sources:
        source_drops.update(source.stats.dropped)
    return {
        "sources": args.clips,
        "fps_each": args.fps,
        "seconds": args.live,
        "results_per_s": round(len(all_ms) / args.live, 2),
        "latency_p50_ms": round(percentile(all_ms, 50), 1),
        "latency_p99_ms": round(percentile(all_ms, 99), 1),
        "windows": rows,
        "drops": {**{f"source:{k}": v for k, v in source_drops.items()}, **{f"batcher:{k}": v for k, v in figures.drops.items()}},
        "batch_sizes": dict(sorted(figures.batch_sizes.items())),
        "loop_lag_p99_ms": round(percentile(figures.lags, 99), 2),
    }


def load_model(args: argparse.Namespace, **options: object):  # noqa: ANN201 - whichever model class the package needs
    return AutoModel.from_pretrained(args.model, image_size=args.image_size, backend=args.backend, **options)


def bench_raw(args: argparse.Namespace, clip: Path, frames: int, batch: int) -> float:
    return raw_run(args, clip, frames, batch)[0]


def raw_run(args: argparse.Namespace, clip: Path, frames: int, batch: int) -> tuple[float, float]:
    """Frames/s of raw `session.run` on one pre-processed batch, and its CPU seconds per frame."""
    import onnxruntime as ort

    model = load_model(args)
    prepared = model.pre_process(first_frames(clip, batch))
    if Path(model._path).suffix == ".onnx":
        # The baseline is plain onnxruntime with its default session options, as a user gets it.
        options = ort.SessionOptions()
        if args.threads:
            options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(model._path), sess_options=options, providers=["CPUExecutionProvider"])
    else:
        session = model._session  # the engine itself, through vigil's TensorRT runner
    name = session.get_inputs()[0].name
    session.run(None, {name: prepared.tensor})  # warm-up
    calls = max(1, frames // batch)
    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        session.run(None, {name: prepared.tensor})
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return calls * batch / elapsed, cpu / (calls * batch)


def bench_rounds(args: argparse.Namespace, clip: Path, workdir: Path, best: int) -> dict:
    """`args.rounds` rounds of raw, pipeline, raw; each round's ratio is the pipeline against the
    mean of the raw runs either side of it, so the machine's drift cancels; the median is the figure."""
    ratios, rounds = [], []
    raw_before, _ = raw_run(args, clip, args.clips * args.frames, best)
    for _ in range(args.rounds):
        pipe_fps, frames, stats = bench_pipeline(args, clip, workdir)
        raw_after, raw_cpu = raw_run(args, clip, frames, best)
        ratio = pipe_fps / ((raw_before + raw_after) / 2)
        ratios.append(ratio)
        rounds.append(
            {
                "pipeline_fps": round(pipe_fps, 2),
                "raw_fps": [round(raw_before, 2), round(raw_after, 2)],
                "ratio": round(ratio, 3),
                "frames": frames,
                "raw_cpu_ms_per_frame": round(1000 * raw_cpu, 2),
                **stats,
            }
        )
        raw_before = raw_after
    return {"ratio_median": round(float(np.median(ratios)), 3), "ratios": [round(r, 3) for r in ratios], "rounds": rounds}


def profile_lines(round_: dict, frames: int, best: int) -> list[str]:
    """Where the pipeline's CPU went, per frame, against raw onnxruntime's."""
    cpu = round_["cpu_s"]
    total = sum(cpu.values())
    lines = [f"  CPU per frame: pipeline {1000 * total / frames:.1f} ms, raw onnxruntime {round_['raw_cpu_ms_per_frame']:.1f} ms"]
    for group, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {group:30s} {1000 * seconds / frames:6.2f} ms/frame  ({100 * seconds / total:4.1f}%)")
    ms = round_["batch_ms"]
    lines.append(
        f"  a batch inside the pipeline: pre {ms['pre']:.1f} ms, infer {ms['infer']:.1f} ms, post {ms['post']:.1f} ms; "
        f"raw session.run of {best}: {1000 * best / round_['raw_fps'][1]:.1f} ms; inference busy {100 * round_['infer_busy']:.1f}% of the run"
    )
    return lines


def main() -> None:
    if "--int8" in sys.argv[1:]:  # int8 vs fp32 on the same streams: bench/int8.py, which takes the rest
        sys.argv.remove("--int8")
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import int8

        int8.main()
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", default=str(importlib.resources.files("nudenet") / "320n.onnx"), help="an ONNX file or a model directory"
    )
    parser.add_argument("--backend", choices=("onnx", "trt"), default=None, help="package backend (default: the resolver's pick)")
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--clips", type=int, default=4, help="copies of the clip run as separate sources")
    parser.add_argument("--frames", type=int, default=150, help="frames per clip")
    parser.add_argument("--clip", type=Path, default=None, help="use this video instead of a generated one")
    parser.add_argument("--size", default="640x480", help="the generated clips' size, e.g. 1280x720 or 1920x1080")
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--max-delay-ms", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--decode-threads", type=int, default=0, help="decoder threads per source (0: auto)")
    parser.add_argument("--raw-batches", default="1,2,4,8", help="batch sizes tried for the raw baseline (best wins)")
    parser.add_argument("--live", type=float, default=None, metavar="SECONDS", help="run paced sources instead")
    parser.add_argument("--fps", type=int, default=15, help="frame rate of each paced source (--live)")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="compare an int8 package quantized here with fp32 instead (bench/int8.py; its options follow)",
    )
    parser.add_argument("--zones", action="store_true", help="compare tracking + 4 zones + 2 lines on vs off instead")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--opencv-threads", type=int, default=1, help="OpenCV threads, as the daemon sets them (default 1)")
    parser.add_argument("--spin", action="store_true", help="let onnxruntime threads spin in the pipeline")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of raw, pipeline, raw (the median ratio is the figure)")
    args = parser.parse_args()
    cv2.setNumThreads(args.opencv_threads)

    if args.live:
        with tempfile.TemporaryDirectory() as tmp:
            live = bench_live(args, Path(tmp))
        for row in live["windows"]:
            print(
                f"{row['window_s'][0]:>5}-{row['window_s'][1]:<5}s  {row['results']:6d} results  "
                f"capture->sink p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms"
            )
        print(
            f"overall p50 {live['latency_p50_ms']} ms, p99 {live['latency_p99_ms']} ms; {live['results_per_s']} results/s; "
            f"drops {live['drops']}; batch sizes {live['batch_sizes']}; event-loop lag p99 {live['loop_lag_p99_ms']} ms"
        )
        if args.json:
            args.json.write_text(json.dumps(live, indent=2))
        return

    if args.zones:
        with tempfile.TemporaryDirectory() as tmp:
            zones = bench_zones(args, args.clip or make_clip(Path(tmp) / "clip.mp4", args.frames), Path(tmp))
        print(
            f"tracking + 4 zones + 2 lines: off {zones['off_fps']:.2f} frames/s, on {zones['on_fps']:.2f} frames/s "
            f"(runs {zones['runs_fps']}); ratio on/off {zones['ratio_on_off']:.4f} ({zones['cost_pct']:.2f}% cost)"
        )
        print(json.dumps(zones))
        if args.json:
            args.json.write_text(json.dumps(zones, indent=2))
        return

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        size = tuple(int(v) for v in args.size.lower().split("x"))
        clip = args.clip or make_clip(workdir / "clip.mp4", args.frames, size=(size[0], size[1]))
        spec = load_model(args).batch
        batch = spec.preferred(args.max_batch)
        raw_batches = [b for b in (int(x) for x in args.raw_batches.split(",")) if spec.accepts(b)] or [batch]
        # The baseline is raw onnxruntime at its best batch size, measured before and after the
        # pipeline and averaged, so that drift in the machine's speed does not land on one side.
        raw_sweep = {b: bench_raw(args, clip, args.clips * args.frames, b) for b in raw_batches}
        best = max(raw_sweep, key=raw_sweep.__getitem__)
        rounds = bench_rounds(args, clip, workdir, best)
    middle = sorted(rounds["rounds"], key=lambda r: r["ratio"])[len(rounds["rounds"]) // 2]
    frames = middle["frames"]
    stats = {k: middle[k] for k in ("batches", "mean_batch", "batch_sizes", "loop_lag_p99_ms", "cpu_s", "batch_ms", "infer_busy")}
    figures = {
        "model": Path(args.model).name,
        "image_size": args.image_size,
        "sources": args.clips,
        "frames": frames,
        "batch": batch,
        "backend": args.backend or "auto",
        "raw_best_batch": best,
        "raw_by_batch": {b: round(v, 2) for b, v in raw_sweep.items()},
        "ratio": rounds["ratio_median"],
        "ratios": rounds["ratios"],
        "pipeline_fps": middle["pipeline_fps"],
        "raw_fps": middle["raw_fps"],
        **{k: round(v, 2) if isinstance(v, float) else v for k, v in stats.items()},
    }
    print(
        f"pipeline:        {middle['pipeline_fps']:7.2f} frames/s  ({frames} frames, {args.clips} sources, batch {batch}; the median round)"
    )
    print(
        f"{'raw TensorRT:   ' if args.backend == 'trt' else 'raw onnxruntime:'} {np.mean(middle['raw_fps']):7.2f} frames/s  "
        f"(session.run on pre-processed batches of {best}, the best of "
        f"{', '.join(f'{b}: {v:.1f}' for b, v in raw_sweep.items())}; {middle['raw_fps'][0]:.2f} before, {middle['raw_fps'][1]:.2f} after)"
    )
    print(f"ratio pipeline / raw: {rounds['ratio_median']:.3f} (median of {args.rounds} rounds: {rounds['ratios']})")
    print("where the time goes (the median round):")
    print("\n".join(profile_lines(middle, frames, best)))
    print(f"batch sizes {stats['batch_sizes']}; event-loop lag p99 {stats['loop_lag_p99_ms']:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
