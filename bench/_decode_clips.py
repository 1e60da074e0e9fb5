"""The cameras of bench/decode.py: for each, a 1920x1080 main stream and a 640x360 substream of
the same moving scene, H.264 as IP cameras send it (main profile, no B-frames, a key frame every
`gop` frames, rate-controlled: 4 Mbit/s main, 512 kbit/s sub), encoded once with PyAV and kept in
a cache folder (reruns with the same settings reuse the files).

The scene: camera i's background (tests/support/scenes.py, its own photo and people) on a canvas
wider than the frame, the view panning across it and back once per clip (a smooth loop), and the
astronaut walking across the frame: every macroblock changes, so the encoder spends its bitrate
as on a busy camera, and the loop's seam is only the encoder's new key frame.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tests.conftest import photo
from tests.support.scenes import scene

MAIN, SUB = (1920, 1080), (640, 360)
VERSION = 1  # of the rendering: a change makes new files


@dataclass(frozen=True)
class ClipSettings:
    seconds: float = 10.0
    fps: int = 25
    gop: int = 50  # a key frame every 2 s at 25 fps, the usual camera default
    main_kbps: int = 4000
    sub_kbps: int = 512

    def key(self) -> str:
        text = json.dumps({**asdict(self), "version": VERSION, "main": MAIN, "sub": SUB}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def camera_clips(cache: Path, camera: int, settings: ClipSettings) -> tuple[Path, Path]:
    """Camera `camera`'s (main, sub) MP4 files in `cache`, made when missing."""
    folder = cache / settings.key()
    main, sub = folder / f"cam{camera:02d}-main.mp4", folder / f"cam{camera:02d}-sub.mp4"
    if main.exists() and sub.exists():
        return main, sub
    folder.mkdir(parents=True, exist_ok=True)
    _render(camera, settings, main, sub)
    return main, sub


def _stream(container: av.container.OutputContainer, size: tuple[int, int], kbps: int, s: ClipSettings) -> av.VideoStream:
    stream = container.add_stream("libx264", rate=s.fps)
    stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
    stream.bit_rate = kbps * 1000
    stream.options = {
        "preset": "veryfast",
        "profile": "main",
        "bf": "0",
        "g": str(s.gop),
        "keyint_min": str(s.gop),
        "sc_threshold": "0",
        "maxrate": f"{kbps}k",
        "bufsize": f"{2 * kbps}k",
    }
    stream.time_base = Fraction(1, s.fps * 512)
    return stream


def _render(camera: int, s: ClipSettings, main_path: Path, sub_path: Path) -> None:
    width, height = MAIN
    canvas = scene(camera, (width + width // 4, height))  # a quarter wider: the pan's room
    walker = photo("astronaut")[0:400, 60:420]
    walker = cv2.resize(walker, None, fx=1.2, fy=1.2, interpolation=cv2.INTER_AREA)
    wh, ww = walker.shape[:2]
    frames = round(s.seconds * s.fps)
    rng = np.random.default_rng(camera)
    y = int(rng.integers(0, height - wh))
    main_tmp, sub_tmp = main_path.with_suffix(".part.mp4"), sub_path.with_suffix(".part.mp4")
    with av.open(str(main_tmp), "w") as mc, av.open(str(sub_tmp), "w") as sc:
        ms, ss = _stream(mc, MAIN, s.main_kbps, s), _stream(sc, SUB, s.sub_kbps, s)
        for i in range(frames):
            phase = i / frames
            pan = round((canvas.shape[1] - width) * (1 - abs(2 * phase - 1)))  # there and back
            image = canvas[:, pan : pan + width].copy()
            x = round(-ww + (width + ww) * phase)
            left, right = max(x, 0), min(x + ww, width)
            if right > left:
                image[y : y + wh, left:right] = walker[:, left - x : right - x]
            mc.mux(ms.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
            small = cv2.resize(image, SUB, interpolation=cv2.INTER_AREA)
            sc.mux(ss.encode(av.VideoFrame.from_ndarray(small, format="bgr24")))
        mc.mux(ms.encode())
        sc.mux(ss.encode())
    main_tmp.replace(main_path)
    sub_tmp.replace(sub_path)


def decode_floor(path: Path, keep_every: int) -> float:
    """Percent of one core that decoding `path` in real time costs with PyAV alone (FFmpeg's
    threads as vigil leaves them), every `keep_every`-th picture converted to BGR as the
    sampler keeps it: the floor under any mode's CPU per camera, with no RTSP, queues or Python
    per frame around it."""
    cpu = time.process_time()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i % keep_every == 0:
                frame.to_ndarray(format="bgr24")
        seconds = float(stream.frames / stream.average_rate) if stream.frames and stream.average_rate else 0.0
    return round(100 * (time.process_time() - cpu) / max(seconds, 1e-9), 2)
