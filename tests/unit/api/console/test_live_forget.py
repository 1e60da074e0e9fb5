"""A removed stream's last picture is not kept by the live view (issue 26's chaos run found one
frame of every stream deleted over the API held for good: frames it had read are still inferred
and published after `forget`)."""

from __future__ import annotations

from tests.unit.api.console.results import face_result
from vigil.api.console.live import LiveView


def test_results_published_after_forget_are_not_kept_until_the_name_is_tracked_again() -> None:
    live = LiveView(fps=5.0, max_width=1280, quality=80)
    try:
        live.published(face_result("api0", 0))
        live.forget("api0")
        live.published(face_result("api0", 1))  # a frame the removed stream had read, inferred late
        assert live.frame_size("api0") is None
        assert "api0" not in live._latest
        live.track("api0")  # the stream is added again under its name
        live.published(face_result("api0", 2))
        assert live.frame_size("api0") is not None
    finally:
        live.close()
