"""Pipeline throughput against raw onnxruntime on the same model, batch size and inputs.

Runs vigil's Pipeline over K copies of a 640x480 H.264 clip (decode -> batch -> pre-process ->
infer -> post-process -> JSONL), then, in the same process, raw `session.run` at the same batch
size on tensors pre-processed beforehand. Prints both frames/s and their ratio; the ratio is the
figure to track (1.0 = the pipeline costs nothing beyond inference).

    python bench/pipeline.py                      # nudenet YOLOv8n at 640, 4 clips
    python bench/pipeline.py --model yolov8n.onnx --clips 4 --frames 300
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import json
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vigil.daemon.pipeline import Pipeline, PipelineOptions
from vigil.engine import AutoModel
from vigil.sinks import JsonlSink
from vigil.sources import FileSource

GOLDEN_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "golden" / "video" / "kenburns_640x480_30fps.mp4"


def make_clip(path: Path, frames: int) -> Path:
    """A 640x480 H.264 clip panning over scikit-image's astronaut (or a gradient without skimage)."""
    try:
        import skimage.data

        photo = skimage.data.astronaut()[:, :, ::-1]
    except ImportError:
        photo = np.dstack(np.meshgrid(np.arange(512), np.arange(512)) + [np.zeros((512, 512), int)]).astype(np.uint8)
    base = cv2.resize(np.ascontiguousarray(photo), (640 + frames, 480))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.options = {"crf": "28", "g": "30", "bf": "2"}
        stream.time_base = Fraction(1, 15360)
        for i in range(frames):
            img = np.ascontiguousarray(base[:, i : i + 640])
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


def bench_pipeline(args: argparse.Namespace, clip: Path, workdir: Path) -> tuple[float, int, dict]:
    model = AutoModel.from_pretrained(args.model, image_size=args.image_size, intra_op_threads=args.threads)
    sources = [FileSource(f"cam{i}", clip, decode_threads=args.decode_threads) for i in range(args.clips)]
    options = PipelineOptions(max_batch=args.max_batch, max_delay_ms=args.max_delay_ms, worker_threads=args.workers)
    pipeline = Pipeline(model, sources, [JsonlSink(workdir / "results.jsonl")], options)
    report = asyncio.run(pipeline.run())
    assert not report.failed_sources, report.failed_sources
    stats = {"batches": report.batches, "mean_batch": report.results / max(report.batches, 1)}
    return report.results / report.elapsed_s, report.results, stats


def bench_raw(args: argparse.Namespace, clip: Path, frames: int, batch: int) -> float:
    import onnxruntime as ort

    model = AutoModel.from_pretrained(args.model, image_size=args.image_size)
    prepared = model.pre_process(first_frames(clip, batch))
    # The baseline is plain onnxruntime with its default session options, as a user gets it.
    options = ort.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, sess_options=options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: prepared.tensor})  # warm-up
    calls = max(1, frames // batch)
    t0 = time.perf_counter()
    for _ in range(calls):
        session.run(None, {name: prepared.tensor})
    return calls * batch / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(importlib.resources.files("nudenet") / "320n.onnx"))
    parser.add_argument("--image-size", type=int, default=640)
    parser.add_argument("--clips", type=int, default=4, help="copies of the clip run as separate sources")
    parser.add_argument("--frames", type=int, default=150, help="frames per clip")
    parser.add_argument("--clip", type=Path, default=None, help="use this 640x480 video instead of a generated one")
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--max-delay-ms", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--decode-threads", type=int, default=0, help="decoder threads per source (0: auto)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clip = args.clip or make_clip(workdir / "clip.mp4", args.frames)
        batch = AutoModel.from_pretrained(args.model, image_size=args.image_size).batch.batch_limit(args.max_batch)
        # The baseline is measured before and after the pipeline and averaged, so that drift in
        # the machine's speed during the run does not land on one side of the ratio.
        frames = args.clips * args.frames
        raw_before = bench_raw(args, clip, frames, batch)
        pipe_fps, frames, stats = bench_pipeline(args, clip, workdir)
        raw_after = bench_raw(args, clip, frames, batch)
        raw_fps = (raw_before + raw_after) / 2
    figures = {
        "model": Path(args.model).name,
        "image_size": args.image_size,
        "sources": args.clips,
        "frames": frames,
        "batch": batch,
        "pipeline_fps": round(pipe_fps, 2),
        "raw_onnxruntime_fps": round(raw_fps, 2),
        "raw_before_after": [round(raw_before, 2), round(raw_after, 2)],
        "ratio": round(pipe_fps / raw_fps, 3),
        **{k: round(v, 2) for k, v in stats.items()},
    }
    print(f"pipeline:        {pipe_fps:7.2f} frames/s  ({frames} frames, {args.clips} sources, batch {batch})")
    print(
        f"raw onnxruntime: {raw_fps:7.2f} frames/s  (session.run on pre-processed batches of {batch}; "
        f"{raw_before:.2f} before, {raw_after:.2f} after)"
    )
    print(f"ratio pipeline / raw: {pipe_fps / raw_fps:.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
