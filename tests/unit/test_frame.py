from datetime import datetime, timezone

import numpy as np
import pytest

from vigil import Frame

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "image",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 4), np.uint8), [[0]]],
)
def test_frame_rejects_images_that_are_not_hxwx3_uint8(image):
    with pytest.raises(ValueError, match="cam#7: image must be an HxWx3 uint8 BGR array"):
        Frame("cam", 7, 0.0, NOW, image)


def test_frame_requires_an_aware_capture_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        Frame("cam", 0, 0.0, datetime(2026, 1, 1), np.zeros((2, 2, 3), np.uint8))


def test_frame_is_frozen_and_reports_its_size():
    f = Frame("cam", 0, 0.5, NOW, np.zeros((6, 8, 3), np.uint8))
    assert (f.height, f.width) == (6, 8)
    with pytest.raises(AttributeError):
        f.seq = 1  # type: ignore[misc]
