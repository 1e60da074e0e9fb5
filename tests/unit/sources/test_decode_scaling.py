"""Scaling in the PyAV decoder (`InputSpec.output_size`): a real 1280x720 H.264 clip made with
PyAV, decoded at 640x360 in the same swscale call as the colour conversion, against a full-size
decode resized afterwards."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.conftest import photo
from vigil.sources.decode.base import InputSpec
from vigil.sources.decode.pyav import PyAVDecoder

SIZE, SMALL, FRAMES = (1280, 720), (640, 360), 20


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def make_clip(path: Path, size: tuple[int, int] = SIZE, frames: int = FRAMES) -> Path:
    """The astronaut panning, H.264 with B-frames (display order differs from decode order)."""
    w, h = size
    base = cv2.resize(photo("astronaut"), (w + frames * 8, h), interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "20", "g": "10", "bf": "2", "preset": "veryfast"}
        stream.time_base = Fraction(1, 25 * 512)
        for i in range(frames):
            image = np.ascontiguousarray(base[:, i * 8 : i * 8 + w])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


class TakeAll:
    """A `DecodePlan` that decodes every packet."""

    skip_nonref = False

    def take(self, key: bool, pts: float | None, size: int) -> bool:
        return True

    def decoded(self, size: int, frames: int, in_flight: int) -> None:
        pass


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("scaling") / "720p.mp4")


def decode(path: Path, output_size: tuple[int, int] | None) -> list[tuple[float | None, int, int, np.ndarray, np.ndarray | None]]:
    """(pts, width, height, BGR, luma copy) of every picture of `path` decoded at `output_size`."""
    opened = PyAVDecoder().open(InputSpec("file", str(path), output_size=output_size))
    try:
        out = []
        for picture in opened.frames(TakeAll(), None, 0.0):
            luma = picture.luma()
            out.append((picture.pts, picture.width, picture.height, picture.to_bgr(), None if luma is None else luma.copy()))
        return out
    finally:
        opened.close()


def test_pictures_decoded_at_640x360_have_that_shape_the_same_times_and_match_a_full_decode_resized(clip):
    full, small = decode(clip, None), decode(clip, SMALL)
    assert len(small) == len(full) == FRAMES
    assert [p[0] for p in small] == [p[0] for p in full]  # same pts, same order
    worst_area, worst_swscale = float("inf"), float("inf")
    for (_, w, h, image, luma), (_, fw, fh, big, big_luma) in zip(small, full):
        assert (w, h) == SMALL and (fw, fh) == SIZE
        assert image.shape == (360, 640, 3) and image.dtype == np.uint8
        assert luma is not None and big_luma is not None and luma.shape == (360, 640)
        # the same filter afterwards: OpenCV's area averaging, and swscale's own on the BGR picture
        worst_area = min(worst_area, psnr(image, cv2.resize(big, SMALL, interpolation=cv2.INTER_AREA)))
        resized = av.VideoFrame.from_ndarray(big, format="bgr24").reformat(*SMALL, interpolation="AREA")
        worst_swscale = min(worst_swscale, psnr(image, resized.to_ndarray(format="bgr24")))
        # the luma is the picture's own values at the small size (no range expansion)
        assert np.abs(luma.astype(int) - cv2.resize(big_luma, SMALL, interpolation=cv2.INTER_AREA)).mean() < 1.0
    print(f"worst PSNR against the full decode resized: INTER_AREA {worst_area:.1f} dB, swscale AREA {worst_swscale:.1f} dB")
    assert worst_area >= 35 and worst_swscale >= 35


def test_an_output_size_equal_to_the_stream_size_changes_nothing(clip):
    full, same = decode(clip, None), decode(clip, SIZE)
    assert [p[0] for p in same] == [p[0] for p in full]
    for (_, w, h, image, luma), (_, _, _, big, big_luma) in zip(same, full):
        assert (w, h) == SIZE
        assert np.array_equal(image, big) and luma is not None and np.array_equal(luma, big_luma)


def test_a_bigger_output_size_upscales(clip):
    [(_, w, h, image, luma), *_] = decode(clip, (1920, 1080))
    assert (w, h) == (1920, 1080) and image.shape == (1080, 1920, 3) and luma is not None and luma.shape == (1080, 1920)


def test_the_stretched_aspect_is_the_size_asked_for(clip):
    [(_, w, h, image, luma), *_] = decode(clip, (320, 320))
    assert (w, h) == (320, 320) and image.shape == (320, 320, 3) and luma is not None and luma.shape == (320, 320)
