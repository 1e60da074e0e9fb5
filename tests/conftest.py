"""Shared fixtures: the real nudenet YOLOv8n, H.264 clips encoded from real photos, golden data."""

from __future__ import annotations

import gc
import hashlib
import importlib.resources
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
NUDENET_SHA256 = "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f"
# nudenet's class ids for faces (its `names` metadata).
FACE_CLASSES = {"FACE_FEMALE", "FACE_MALE"}

# torch's OpenMP threads spin while they wait by default, which on a busy 2-core machine makes a
# forward pass many times slower. vigil sets this when it imports torch itself (a torch package
# chosen); tests import torch first, so they set it here, before any test module loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# `make test` runs the files on pytest-xdist workers (--dist loadfile --no-loadscope-reorder): a
# worker takes the next file in collection order when it is free. The files named here take longest
# (a minute or more, from --durations on a loaded 2-core machine), so they start first and none is
# left running alone at the end. Named without their folder; a name missing here only costs time.
LONG_FIRST = (
    "test_soak.py",  # three minutes of chaos, however fast the machine
    "test_ppocr_text_detection.py",
    "test_ppocr.py",
    "test_api_properties.py",
    "test_config_check.py",
    "test_demo_console.py",
    "test_nats_sink.py",
    "test_parity_golden.py",
    "test_daemon_cli.py",
    "test_api_connections.py",
    "test_quantize.py",
    "test_openvino_parity.py",
    "test_openvino_int8.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the LONG_FIRST files first, the others in their usual order after them
    (every worker sorts alike, so they agree on the collection)."""
    if not hasattr(config, "workerinput"):
        return
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0].rsplit("/", 1)[-1], len(rank)))  # stable


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything collection made (every test module of the suite, their imports) moves to the
    garbage collector's permanent generation: a full collection then walks only what the tests
    make, so its pauses stay short enough for the tests that pace frames in real time."""
    gc.collect()
    gc.freeze()


def photo(name: str) -> np.ndarray:
    """A scikit-image photo as HxWx3 uint8 BGR."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    return np.ascontiguousarray(img[:, :, 2::-1])


def encode_clip(path: Path, image: np.ndarray, frames: int, size: tuple[int, int] = (640, 480), fps: int = 30) -> Path:
    """Encode `frames` frames of `image` slowly panning, as H.264 with B-frames (decode order differs
    from display order, as in camera streams)."""
    w, h = size
    base = cv2.resize(image, (w + frames * 2, h), interpolation=cv2.INTER_AREA)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "23", "g": "12", "bf": "2", "preset": "veryfast"}
        stream.time_base = Fraction(1, fps * 512)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, i * 2 : i * 2 + w]), format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def decoded_frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture(scope="session")
def nudenet_path() -> Path:
    path = Path(str(importlib.resources.files("nudenet") / "320n.onnx"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == NUDENET_SHA256, f"nudenet 320n.onnx has sha256 {digest}, expected {NUDENET_SHA256}"
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "astronaut": encode_clip(folder / "astronaut.mp4", photo("astronaut"), frames=24),
        "coffee": encode_clip(folder / "coffee.mp4", photo("coffee"), frames=18),
    }


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    path = Path(os.environ.get("VIGIL_GOLDEN_DIR", REPO.parent / "shared" / "golden"))
    if not (path / "README.md").is_file():
        if os.environ.get("CI") == "true":  # parity is the acceptance bar: CI must not skip it quietly
            pytest.fail(f"CI=true but the golden reference data is missing at {path}")
        pytest.skip(f"golden reference data not found at {path}")
    return path
