"""What GStreamer's caps say about a video stream, in the neutral terms of the decoder protocol:
FFmpeg's codec names, `StreamInfo`, `StreamParams` (the clips' extradata is the parser's
`codec_data`: avcC for H.264 in `avc` stream format, hvcC for H.265 in `hvc1`)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from vigil.packet import StreamParams
from vigil.sources.decode._gst_lib import Gst
from vigil.sources.decode.base import StreamInfo

__all__ = ["NANOSECOND", "codec_name", "is_video", "nal_length_size", "non_reference", "stream_info", "stream_params"]

NANOSECOND = Fraction(1, Gst.SECOND)  # GStreamer's clock: every time is in nanoseconds

# caps name -> FFmpeg's codec name (StreamInfo.codec, StreamParams.codec, `elements` keys)
_CODECS = {
    "video/x-h264": "h264",
    "video/x-h265": "hevc",
    "image/jpeg": "mjpeg",
    "video/x-vp8": "vp8",
    "video/x-vp9": "vp9",
    "video/x-av1": "av1",
    "video/x-raw": "rawvideo",
}
_MPEG = {1: "mpeg1video", 2: "mpeg2video", 4: "mpeg4"}
_CHROMA = {"4:2:0": "yuv420p", "4:2:2": "yuv422p", "4:4:4": "yuv444p", "4:0:0": "gray"}


def is_video(caps: Any) -> bool:
    """A picture stream: video/* or JPEG (a camera's MJPEG)."""
    name = caps.get_structure(0).get_name()
    return name.startswith("video/") or name == "image/jpeg"


def codec_name(caps: Any) -> str:
    structure = caps.get_structure(0)
    name = structure.get_name()
    if name == "video/mpeg":
        found, version = structure.get_int("mpegversion")
        return _MPEG.get(version, "mpeg") if found else "mpeg"
    return _CODECS.get(name, name)


def _size(structure: Any) -> tuple[int, int]:
    width = structure.get_int("width")
    height = structure.get_int("height")
    return (width[1] if width[0] else 0), (height[1] if height[0] else 0)


def _fps(structure: Any) -> float | None:
    found, numerator, denominator = structure.get_fraction("framerate")
    return numerator / denominator if found and numerator > 0 and denominator > 0 else None


def stream_info(caps: Any, duration_ns: int | None) -> StreamInfo:
    """The stream the caps describe; `duration_ns` a file's length (None: unknown, live)."""
    structure = caps.get_structure(0)
    width, height = _size(structure)
    duration = duration_ns / Gst.SECOND if duration_ns and duration_ns > 0 else None
    return StreamInfo(codec_name(caps), width, height, NANOSECOND, _fps(structure), None, duration)


def stream_params(caps: Any) -> StreamParams:
    """The codec parameters a muxer needs to hold the stream's packets (see the module docstring)."""
    structure = caps.get_structure(0)
    width, height = _size(structure)
    extradata = None
    if structure.has_field("codec_data"):
        data = structure.get_value("codec_data")
        extradata = data.extract_dup(0, data.get_size()) or None
    pix_fmt = None
    chroma = structure.get_string("chroma-format")
    if chroma in _CHROMA:
        depth = structure.get_uint("bit-depth-luma")
        pix_fmt = _CHROMA[chroma] if not depth[0] or depth[1] == 8 else None
    found, par_n, par_d = structure.get_fraction("pixel-aspect-ratio")
    aspect = Fraction(par_n, par_d) if found and par_d > 0 and par_n > 0 and par_n != par_d else None
    return StreamParams(
        codec=codec_name(caps),
        width=width,
        height=height,
        time_base=NANOSECOND,
        pix_fmt=pix_fmt,
        extradata=extradata,
        fps=_fps(structure),
        sample_aspect_ratio=aspect,
    )


def nal_length_size(caps: Any) -> int | None:
    """The byte length of each NAL unit's size prefix in the stream's access units (avcC's and
    hvcC's lengthSizeMinusOne + 1); None for a stream that is not H.264/H.265 in that format."""
    structure = caps.get_structure(0)
    name = structure.get_name()
    if name not in ("video/x-h264", "video/x-h265") or not structure.has_field("codec_data"):
        return None
    data = structure.get_value("codec_data")
    at = 4 if name == "video/x-h264" else 21
    header = data.extract_dup(0, min(data.get_size(), at + 1))
    return (header[at] & 3) + 1 if len(header) > at else None


def non_reference(data: bytes, codec: str, length_size: int) -> bool:
    """Whether an access unit holds a picture no other picture refers to, so that it can be left
    undecoded (what FFmpeg's `skip_frame = NONREF` leaves): H.264's slice with nal_ref_idc 0, or
    H.265's sub-layer non-reference slice (even NAL types below 16). Reads the first slice."""
    at, end = 0, len(data)
    while at + length_size < end:
        size = int.from_bytes(data[at : at + length_size], "big")
        header = data[at + length_size]
        if codec == "h264" and (header & 0x1F) in (1, 5):  # a coded slice (5: IDR)
            return header & 0x60 == 0
        if codec == "hevc" and (header >> 1) & 0x3F < 32:  # a VCL NAL unit
            kind = (header >> 1) & 0x3F
            return kind < 16 and kind % 2 == 0
        at += length_size + size
    return False
