"""Clips from the neutral packet type: packets demuxed by PyAV, copied into `vigil.packet.Packet`
and `StreamParams` (as the PyAV decoder hands them over), remuxed into an MP4 that plays the
camera's own pictures; a stream an MP4 cannot hold gets no clips, said once."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.unit.clips.test_recorder import video  # noqa: F401 (a fixture)
from vigil.clips import ClipRecorder
from vigil.config.clips import ClipsConfig
from vigil.packet import Packet, StreamParams
from vigil.sources.decode.pyav import neutral_packet, stream_params

START = datetime(2026, 12, 6, 8, 0, tzinfo=timezone.utc)


def as_ts(source: Path, path: Path) -> Path:
    """The same H.264 in MPEG-TS: Annex B packets and parameter sets, as a camera's RTSP stream."""
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return path


def record(tmp_path: Path, video: Path) -> tuple[Path, StreamParams]:
    """An object seen from 1.5 s to 3 s of `video`, its clip cut from neutral packets only."""
    clips = ClipRecorder("cam", ClipsConfig(directory=str(tmp_path / "clips"), pre_roll_s=1.0, post_roll_s=1.0))
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        params = stream_params(stream)
        clips.stream_opened(params)
        path = None
        for demuxed in container.demux(stream):
            packet = neutral_packet(demuxed)
            if packet is None:
                continue
            assert isinstance(packet, Packet) and isinstance(packet.data, bytes)
            if path is None and packet.pts > 1.5:
                path = clips.open(1, start_pts=1.5, start_time=START)
                clips.close(1, end_pts=3.0)
            clips.packet(packet)
    clips.stream_ended()
    assert clips.flush(30.0) and path is not None
    assert clips.stats().written == 1 and clips.stats().errors == 0
    return Path(path), params


def pictures(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


@pytest.mark.parametrize("wrapping", ["mp4", "ts"])
def test_a_clip_cut_from_neutral_packets_plays_the_cameras_own_pictures(tmp_path, video, wrapping):
    source = video if wrapping == "mp4" else as_ts(video, tmp_path / "v.ts")
    clip, params = record(tmp_path, source)
    assert params.codec == "h264" and (params.width, params.height) == (160, 120) and params.extradata
    expected, got = pictures(source), pictures(clip)
    assert 20 <= len(got) <= 40  # pre-roll from a key frame to post-roll: about 2.5 s at 10 fps
    at = next(i for i, picture in enumerate(expected) if np.array_equal(picture, got[0]))
    assert all(np.array_equal(a, b) for a, b in zip(got, expected[at : at + len(got)], strict=True))
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 160, 120)
        if wrapping == "mp4":  # avcC in, avcC out: the camera's bytes, unchanged
            assert stream.codec_context.extradata == params.extradata


def test_stream_params_copy_what_a_muxer_needs(video):
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        params = stream_params(stream)
        assert params == StreamParams(
            "h264",
            160,
            120,
            Fraction(stream.time_base),
            pix_fmt="yuv420p",
            extradata=bytes(stream.codec_context.extradata),
            fps=10.0,
            profile=stream.codec_context.profile,
            level=stream.codec_context.level,
            color_range=params.color_range,
            bit_rate=params.bit_rate,
        )
        first = next(p for p in container.demux(stream) if p.size)
        packet = neutral_packet(first, pts_offset=100.0)
        assert packet is not None and packet.key and packet.data == bytes(first)
        assert packet.pts == pytest.approx(100.0 + float(first.pts * first.time_base))
        assert packet.dts == pytest.approx(100.0 + float(first.dts * first.time_base))


def test_a_stream_an_mp4_cannot_hold_gets_no_clips_and_says_so(tmp_path, caplog):
    clips = ClipRecorder("webcam", ClipsConfig(directory=str(tmp_path)))
    with caplog.at_level(logging.WARNING):
        clips.stream_opened(StreamParams("rawvideo", 640, 480, Fraction(1, 30), pix_fmt="yuyv422"))
    assert clips.open(1, start_pts=0.0, start_time=START) is None
    assert "no clips of this stream: its rawvideo video cannot go into an MP4" in caplog.text
    clips.stream_ended()
    assert clips.flush(30.0) and not list(tmp_path.rglob("*.mp4*"))
