"""Source throughput and sampling cost.

1. FileSource decode throughput vs a bare PyAV decode loop (decode + bgr24) on the same file,
   same run (target ratio >= 0.95).
2. CPU seconds per minute of a 720p 30 fps stream (1 s GOP) sampled at 1 fps: FileSource with
   max_fps=1 (key frames only) vs decoding every frame and keeping one a second.

    python bench/sources.py
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vigil.sources import FileSource


def make_clip(path: Path, seconds: int, size: tuple[int, int], fps: int = 30) -> Path:
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8), (size[0] * 2, size[1]), interpolation=cv2.INTER_CUBIC)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {
            "g": str(fps),
            "keyint_min": str(fps),
            "sc_threshold": "0",
            "bf": "2",
            "preset": "ultrafast",
            "crf": "26",
        }
        stream.time_base = Fraction(1, fps * 512)
        for i in range(seconds * fps):
            x = (i * 3) % size[0]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, x : x + size[0]]), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def bare_decode(path: Path, keep_every: int = 1) -> int:
    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i % keep_every == 0:
                frame.to_ndarray(format="bgr24")
                n += 1
    return n


async def source_decode(path: Path, max_fps: float | None = None) -> int:
    source = FileSource("bench", path, max_fps=max_fps)
    await source.start()
    n = 0
    async for _ in source:
        n += 1
    await source.stop()
    return n


def timed(fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        vga = make_clip(Path(tmp) / "vga.mp4", args.seconds, (640, 480))
        hd = make_clip(Path(tmp) / "hd.mp4", args.seconds, (1280, 720))
        # Interleaved runs; this machine's speed drifts by +-10% between runs, so the figure is
        # the ratio of total throughputs over all runs (and the median per-run ratio).
        ratios, bare_time, source_time, frames = [], 0.0, 0.0, 0
        for _ in range(args.runs):
            n_bare, wall_bare, _ = timed(lambda: bare_decode(vga))
            n_src, wall_src, _ = timed(lambda: asyncio.run(source_decode(vga)))
            assert n_bare == n_src
            ratios.append((n_src / wall_src) / (n_bare / wall_bare))
            bare_time, source_time, frames = bare_time + wall_bare, source_time + wall_src, frames + n_src
        print(f"640x480 decode: FileSource {frames / source_time:.0f} frames/s, bare PyAV {frames / bare_time:.0f} frames/s")
        print(
            f"FileSource / bare PyAV throughput: {bare_time / source_time:.3f} over {args.runs} runs "
            f"(median run {sorted(ratios)[len(ratios) // 2]:.3f})"
        )
        per_minute = 60.0 / args.seconds
        n_key, _, cpu_key = timed(lambda: asyncio.run(source_decode(hd, max_fps=1)))
        n_full, _, cpu_full = timed(lambda: bare_decode(hd, keep_every=30))
        print(
            f"720p30 sampled at 1 fps: key frames only {cpu_key * per_minute:.2f} CPU s per minute ({n_key} frames), "
            f"full decode {cpu_full * per_minute:.2f} CPU s per minute ({n_full} frames); ratio {cpu_key / cpu_full:.3f}"
        )


if __name__ == "__main__":
    main()
