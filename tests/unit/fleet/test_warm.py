"""What a box warms up before it joins the fleet (vigil.fleet.warm): the libraries its cameras'
stages import when they are made, and the hardware decoder probe of decoder `auto`."""

from __future__ import annotations

import sys

from vigil.fleet.warm import Warmth, warm_up, what_to_warm

URL = "rtsp://127.0.0.1:1/cam"


def test_a_plain_camera_warms_the_decoder_only() -> None:
    assert what_to_warm({"cam0": {"url": URL}}) == Warmth(("av",), probe=True)
    assert what_to_warm({"cam0": {"url": URL, "decoder": "pyav"}}) == Warmth(("av",), probe=False)


def test_tracking_and_zones_warm_their_libraries_once() -> None:
    zone = {"name": "all", "polygon": [[0, 0], [320, 0], [320, 240], [0, 240]]}
    cameras = {
        "cam0": {"url": URL, "tracking": {"classes": ["person"]}},
        "cam1": {"url": URL, "zones": [zone]},  # zones imply tracking
        "cam2": {"url": URL, "decoder": "pyav"},
    }
    warmth = what_to_warm(cameras)
    assert warmth.modules == ("av", "trackers", "supervision") and warmth.probe


def test_entries_that_do_not_start_warm_nothing() -> None:
    assert what_to_warm({}) == Warmth()
    assert what_to_warm({"cam0": {"url": URL, "max_fps": -1}, "bad..name": {"url": URL}}) == Warmth()


def test_warm_up_imports_what_it_can() -> None:
    sys.modules.pop("colorsys", None)
    done = warm_up(Warmth(("colorsys", "no_such_module_for_vigil"), probe=False))
    assert done == ["colorsys"] and "colorsys" in sys.modules
