"""`sources[].decoder`: which decoder turns a camera's video into pictures.

    sources:
      - name: door
        url: rtsp://door.lan/stream1
        decoder: auto        # auto (the default) | pyav | gstreamer

`auto` picks a hardware decoder through GStreamer when the machine has one that works (its
element exists and decodes a probe; docs/JETSON.md, "Decoding"), else PyAV; `pyav` decodes with
FFmpeg on the CPU; `gstreamer` decodes with GStreamer's own choice of decoder. The choice itself
is made when the camera is built (`vigil.sources.decode.auto.choose`), never here: validating a
configuration probes no hardware.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

__all__ = ["DECODER_NAMES", "DecoderName", "decoder_field"]

# `auto` and the names of `vigil.sources.decode.auto.DECODERS` (a test holds the two equal: the
# config sits below the sources and cannot import them).
DECODER_NAMES: tuple[str, ...] = ("auto", "pyav", "gstreamer")


def _known(name: Any) -> Any:
    if isinstance(name, str) and name not in DECODER_NAMES:
        known = ", ".join(DECODER_NAMES)
        raise PydanticCustomError(
            "decoder", "decoder '{name}' is unknown; choose one of: {known}", {"name": name[:40], "known": known}
        )
    return name


DecoderName = Annotated[Literal["auto", "pyav", "gstreamer"], BeforeValidator(_known)]


def decoder_field() -> Any:
    """The `decoder` field of every source."""
    return Field(
        "auto",
        description="How this source's video is decoded: auto (a hardware decoder through GStreamer when one "
        "exists here and decodes a probe, else PyAV; `vigil check` says which and why), pyav (FFmpeg on the CPU) "
        "or gstreamer (GStreamer's own choice of decoder).",
    )
