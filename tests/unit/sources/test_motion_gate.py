"""The motion gate on real photos (the coffee photo as a 1280x720 scene, the astronaut's face
moving over it) with sensor noise: what it skips, what it lets through, masks, a light switched
on, keepalives."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from tests.conftest import photo
from tests.support.scripted_clip import face_crop
from vigil.config.motion import MotionConfig
from vigil.frame import Frame
from vigil.sources.motion import MotionGate

SIZE = (1280, 720)
FPS = 5
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def background() -> np.ndarray:
    return cv2.resize(photo("coffee"), SIZE, interpolation=cv2.INTER_AREA)


@functools.cache
def _grain() -> list[np.ndarray]:
    rng = np.random.default_rng(99)
    return [rng.normal(0, 4.0, (SIZE[1], SIZE[0], 3)).astype(np.int16) for _ in range(6)]


def noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`image` with a camera sensor's noise: Gaussian (sigma 4) on every pixel, different each
    call (one of a few noise fields, rolled sideways by a random amount)."""
    grain = np.roll(_grain()[int(rng.integers(len(_grain())))], int(rng.integers(SIZE[0])), axis=1)
    return np.clip(image + grain, 0, 255).astype(np.uint8)


def with_face(image: np.ndarray, x: int, y: int = 250) -> np.ndarray:
    face = face_crop()
    out = image.copy()
    out[y : y + face.shape[0], x : x + face.shape[1]] = face
    return out


def frames(images: Iterator[np.ndarray]) -> Iterator[Frame]:
    for i, image in enumerate(images):
        yield Frame("cam", i, i / FPS, EPOCH + timedelta(seconds=i / FPS), image)


def admitted(gate: MotionGate, images: Iterator[np.ndarray]) -> list[int]:
    """The indices of the frames `gate` lets through."""
    return [f.seq for f in frames(images) if gate.admit(f) is None]


def static(count: int, seed: int = 0) -> Iterator[np.ndarray]:
    rng, scene = np.random.default_rng(seed), background()
    return (noisy(scene, rng) for _ in range(count))


def walking(count: int, step: int = 24, seed: int = 0) -> Iterator[np.ndarray]:
    """The face walking left to right, `step` px a frame (120 px/s at 5 fps), with noise."""
    rng, scene = np.random.default_rng(seed), background()
    return (noisy(with_face(scene, 40 + step * i), rng) for i in range(count))


def gate(**settings: object) -> MotionGate:
    return MotionGate(MotionConfig.model_validate({"enabled": True, "keepalive_s": 1000, **settings}), "cam")


def test_a_static_noisy_scene_is_skipped_entirely_after_its_first_frame():
    g = gate()
    assert admitted(g, static(50)) == [0]  # the first frame seeds the background and is detected


def test_every_frame_of_a_walking_face_passes():
    assert admitted(gate(), walking(40)) == list(range(40))


def test_a_slow_walk_passes_too():
    # 4 px a frame at 1280 px (1 px of the 320 px copy): 20 px/s, a person far away
    assert admitted(gate(), walking(40, step=4)) == list(range(40))


@pytest.mark.parametrize(
    "mask",
    [
        {"polygon": [[0, 200], [1280, 200], [1280, 520], [0, 520]]},  # pixels
        {"polygon": [[0, 0.25], [1, 0.25], [1, 0.75], [0, 0.75]], "normalized": True},
    ],
    ids=["pixels", "normalized"],
)
def test_motion_under_a_mask_is_ignored(mask):
    # the band the face walks in (y 250..470) is masked: the rest of the frame is still
    assert admitted(gate(masks=[mask]), walking(40)) == [0]


def test_a_mask_elsewhere_does_not_hide_motion():
    mask = {"polygon": [[0, 0], [1280, 0], [1280, 100], [0, 100]]}  # a clock overlay at the top
    assert admitted(gate(masks=[mask]), walking(20)) == list(range(20))


def test_a_changing_clock_overlay_under_its_mask_is_not_motion():
    rng, scene = np.random.default_rng(1), background()

    def clock(i: int) -> np.ndarray:
        image = noisy(scene, rng)
        cv2.putText(image, f"12:00:{i:02d}", (980, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        return image

    images = [clock(i) for i in range(30)]
    assert len(admitted(gate(), iter(images))) > 5  # unmasked, the ticking clock is motion
    masked = gate(masks=[{"polygon": [[960, 0], [1280, 0], [1280, 80], [960, 80]]}])
    assert admitted(masked, iter(images)) == [0]


@pytest.mark.parametrize("light", ["uniform", "lamp", "exposure"])
def test_a_light_switched_on_opens_the_gate_for_a_moment_at_most(light):
    rng, scene = np.random.default_rng(2), background().astype(np.float32)
    if light == "uniform":
        lit = scene * 1.5 + 10
    elif light == "exposure":  # the camera's exposure steps 20% up: too small a change to re-seed on
        lit = scene * 1.2
    else:  # a lamp on the left: up to 2.2x brighter there, fading to the right
        lit = scene * np.linspace(2.2, 1.0, SIZE[0], dtype=np.float32)[None, :, None]
    lit = np.clip(lit, 0, 255).astype(np.uint8)
    dark = scene.astype(np.uint8)
    g = gate()
    images = [noisy(dark if i < 20 else lit, rng) for i in range(60)]
    let_in = admitted(g, iter(images))
    assert let_in[0] == 0 and all(i >= 20 for i in let_in[1:])
    assert len(let_in) - 1 <= 2, f"after the step the gate let in frames {let_in[1:]}"  # at most 0.4 s
    # ... and motion is seen again right after it
    assert admitted(g, (noisy(with_face(lit, 40 + 24 * i), rng) for i in range(10))) == list(range(10))


def test_an_object_that_stops_closes_the_gate_within_seconds():
    rng, scene = np.random.default_rng(3), background()
    walk = [noisy(with_face(scene, 40 + 24 * i), rng) for i in range(15)]
    stand = [noisy(with_face(scene, 40 + 24 * 14), rng) for _ in range(40)]
    let_in = admitted(gate(), iter(walk + stand))
    assert let_in[:15] == list(range(15))
    assert max(let_in) < 15 + 3 * FPS, "the background absorbs a standing object within background_s x ~3"


def test_a_keepalive_frame_is_admitted_every_keepalive_s_without_motion():
    g = gate(keepalive_s=2.0)
    assert admitted(g, static(60)) == [0, 10, 20, 30, 40, 50]  # 5 fps: every 2 s
    assert g.keepalives == 5


def test_motion_restarts_the_keepalive_period():
    g = gate(keepalive_s=2.0)
    images = list(static(8)) + list(walking(3)) + list(static(20, seed=4))
    let_in = admitted(g, iter(images))
    assert set(range(8, 11)) <= set(let_in) and 5 not in let_in  # frame 5 is 1 s after frame 0
    last_motion = 10
    while last_motion + 1 in let_in:  # the face leaving is motion too, until the background forgets it
        last_motion += 1
    assert [i for i in let_in if i > last_motion][:1] == [last_motion + 10]


def test_a_clock_that_goes_back_reseeds_and_admits():
    g = gate()
    scene = background()
    first = [Frame("cam", i, i / FPS, EPOCH, scene) for i in range(5)]
    assert [g.admit(f) for f in first] == [None] + ["motion"] * 4
    looped = Frame("cam", 5, 0.0, EPOCH, with_face(scene, 400))  # a file looping to its start
    assert g.admit(looped) is None


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"threshold": 0}, "threshold"),
        ({"min_area": 0}, "min_area"),
        ({"keepalive_s": 0}, "keepalive_s"),
        ({"masks": [{"polygon": [[0, 0], [1, 1]]}]}, "masks"),
        ({"masks": [{"polygon": [[0, 0], [2, 0], [2, 1]], "normalized": True}]}, "masks"),
        ({"masks": [{"polygon": [[0, 0], [10, 10], [10, 0], [0, 10]]}]}, "masks"),
        ({"sensitivity": 3}, "sensitivity"),
    ],
)
def test_bad_motion_settings_are_refused_naming_the_key(settings, key):
    with pytest.raises(ValidationError) as info:
        MotionConfig.model_validate(settings)
    assert key in str(info.value)


@pytest.mark.parametrize("url", ["clip.mp4", "rtsp://cam.local/stream", "v4l2:/dev/video0"])
@pytest.mark.parametrize("motion", [None, {"enabled": False}, {"enabled": True, "keepalive_s": 2}])
def test_a_source_gets_a_motion_gate_only_when_its_motion_is_enabled(url, motion):
    from vigil.config import SourceConfig
    from vigil.daemon.assemble import make_source

    config = SourceConfig.model_validate({"name": "cam", "url": url, **({"motion": motion} if motion else {})})
    gates = make_source(config).gates.gates  # type: ignore[attr-defined]
    if motion and motion["enabled"]:
        [only] = gates
        assert isinstance(only, MotionGate) and only.config.keepalive_s == 2 and only.source == "cam"
    else:
        assert gates == []


def test_a_bad_motion_setting_in_the_yaml_names_its_key_and_line():
    from vigil.config.loader import parse_config
    from vigil.errors import ConfigError

    text = (
        "model:\n  path: m.onnx\nsources:\n  - name: cam\n    url: a.mp4\n    motion:\n      enabled: true\n      min_area: 2\n"
    )
    with pytest.raises(ConfigError, match=r"line 8: sources\[0\]\.motion\.min_area"):
        parse_config(text, "t.yaml", {})
