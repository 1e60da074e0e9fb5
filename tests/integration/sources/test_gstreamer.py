"""The gstreamer decoder against real GStreamer: real H.264 files, the real RTSP server
(tests/support/rtsp_server.py), PyAV as the reference on the same input."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import encode_clip, photo
from tests.integration.sources.test_rtsp import FAST, RtspServer, started, take
from vigil.clips._mp4 import ClipFile, StreamTemplate
from vigil.errors import SourceOpenError
from vigil.sources import FileSource, RTSPSource, WebcamSource
from vigil.sources.decode.base import DecodeFailed, InputSpec, OpenFailed
from vigil.sources.decode.gstreamer import GStreamerDecoder
from vigil.sources.decode.pyav import PyAVDecoder


class TakeAll:
    """A plan that decodes every packet (the protocol's `DecodePlan`)."""

    skip_nonref = False

    def take(self, key: bool, pts: float | None, size: int) -> bool:
        return True

    def decoded(self, size: int, frames: int, in_flight: int) -> None:
        pass


def decode(decoder, spec: InputSpec, limit: int | None = None) -> tuple[list, list, object]:
    """(pts, key, BGR, luma) of each picture, the packets, and the input's facts, read to the end or `limit`."""
    opened = decoder.open(spec)
    packets: list = []
    pictures = []
    try:
        for picture in opened.frames(TakeAll(), packets.append, 0.0):
            luma = picture.luma()
            pictures.append((picture.pts, picture.key, picture.to_bgr(), None if luma is None else luma.copy()))
            if limit is not None and len(pictures) >= limit:
                break
        return pictures, packets, opened
    finally:
        opened.close()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """2 s of H.264 at 30 fps with B-frames, a key frame every 12 frames."""
    return encode_clip(tmp_path_factory.mktemp("gst") / "clip.mp4", photo("astronaut"), 60)


@pytest.fixture
def server(clip):
    srv = started(RtspServer("--file", str(clip)))
    yield srv
    srv.stop()


def test_frames_equal_pyavs_on_the_same_clip_at_native_size(clip):
    spec = InputSpec("file", str(clip))
    got, _, opened = decode(GStreamerDecoder(), spec)
    want, _, reference = decode(PyAVDecoder(), spec)
    assert opened.decoder_element == "avdec_h264"  # FFmpeg's H.264 decoder, through gst-libav
    assert (opened.info.codec, opened.info.width, opened.info.height) == ("h264", 640, 480)
    assert opened.info.duration_s == pytest.approx(reference.info.duration_s, abs=0.05)
    assert len(got) == len(want) == 60
    assert [g[0] for g in got] == pytest.approx([w[0] for w in want], abs=1e-6)
    assert [g[1] for g in got] == [w[1] for w in want] and sum(g[1] for g in got) == 5
    assert min(psnr(g[2], w[2]) for g, w in zip(got, want)) >= 45.0
    assert all(np.array_equal(g[3], w[3]) for g, w in zip(got, want))  # the same decoder: the same luma


@pytest.mark.parametrize("size", [(320, 240), (301, 225)])
def test_frames_are_scaled_to_output_size_like_pyavs(clip, size):
    """Both scale by area averaging, PyAV with swscale from YUV to BGR in one call, GStreamer's
    pictures with OpenCV plane by plane, then convert: on this detailed photo they agreed at
    40.8 dB at half size and 36.0 dB at 301x225 (PyAV against itself, scaled in YUV then
    converted, gives 39.8 dB at half size)."""
    spec = InputSpec("file", str(clip), output_size=size)
    got, _, _ = decode(GStreamerDecoder(), spec)
    want, _, _ = decode(PyAVDecoder(), spec)
    width, height = size
    assert len(got) == len(want) == 60
    assert all(g[2].shape == (height, width, 3) and g[3].shape == (height, width) for g in got)
    assert [g[0] for g in got] == pytest.approx([w[0] for w in want], abs=1e-6)
    assert min(psnr(g[2], w[2]) for g, w in zip(got, want)) >= 34.0
    # and each is that frame, not a neighbour: the next frame (panned by 2 pixels) is further off
    assert all(psnr(g[2], w[2]) > psnr(g[2], n[2]) + 3 for g, w, n in zip(got, want, want[1:]))


def encode_hevc(path: Path, frames: int = 60) -> Path:
    """H.265 in MP4 (hvc1), B-frames, a key frame every 12: a bar moving across a grey picture."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx265", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"x265-params": "log-level=error:keyint=12:bframes=2", "preset": "veryfast"}
        stream.codec_context.codec_tag = "hvc1"
        for i in range(frames):
            image = np.full((240, 320, 3), 60, np.uint8)
            image[:, (i * 5) % 280 : (i * 5) % 280 + 40] = (200, 120, 40)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


async def test_hevc_decodes_as_pyav_does_feeds_clips_and_skips_non_reference_pictures(tmp_path):
    path = encode_hevc(tmp_path / "h265.mp4")
    got, packets, opened = decode(GStreamerDecoder(), InputSpec("file", str(path)))
    want, _, _ = decode(PyAVDecoder(), InputSpec("file", str(path)))
    assert opened.decoder_element == "avdec_h265" and opened.info.codec == "hevc"
    assert len(got) == len(want) == 60 and all(np.array_equal(g[3], w[3]) for g, w in zip(got, want))
    assert opened.stream_params().extradata[0] == 1  # hvcC
    played, _, _ = decode(PyAVDecoder(), InputSpec("file", str(write_clip(tmp_path / "c.mp4", opened, packets))))
    assert len(played) == 60 and all(np.array_equal(a[2], b[2]) for a, b in zip(played, want))
    source = FileSource("h265", path, decoder="gstreamer", max_fps=5.0)
    frames = await collect(source)
    assert source.stats.skipped["non_ref"] > 0 and source.stats.decoded < 60 and 9 <= len(frames) <= 11


def write_clip(path: Path, opened, packets: list) -> Path:
    clip_file = ClipFile(path, StreamTemplate(opened.stream_params()))
    for packet in packets:
        clip_file.add(packet)
    clip_file.finish()
    return path


def test_packets_from_a_file_make_a_clip_that_plays_the_same_pictures(clip, tmp_path):
    got, packets, opened = decode(GStreamerDecoder(), InputSpec("file", str(clip)))
    assert len(packets) == 60 and sum(p.key for p in packets) == 5
    assert all(b.dts > a.dts for a, b in zip(packets, packets[1:])) and packets[1].pts > packets[2].pts  # decode order
    params = opened.stream_params()
    assert params.codec == "h264" and params.extradata and params.extradata[0] == 1  # avcC
    played, _, _ = decode(PyAVDecoder(), InputSpec("file", str(write_clip(tmp_path / "c.mp4", opened, packets))))
    original, _, _ = decode(PyAVDecoder(), InputSpec("file", str(clip)))
    assert len(played) == 60
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(played, original))


async def test_packets_from_a_camera_make_a_clip_that_plays_its_pictures(server, clip, tmp_path):
    """RTP's H.264 (Annex B, parameter sets in the stream) leaves the parser as avcC access units."""
    spec = InputSpec("rtsp", server.url("file"), open_timeout_s=10, read_timeout_s=10)
    _, packets, opened = await asyncio.to_thread(decode, GStreamerDecoder(), spec, 40)
    key = next(i for i, p in enumerate(packets) if p.key)
    played, _, _ = decode(PyAVDecoder(), InputSpec("file", str(write_clip(tmp_path / "c.mp4", opened, packets[key:]))))
    original, _, _ = decode(PyAVDecoder(), InputSpec("file", str(clip)))
    assert len(played) >= 20
    at = [next((i for i, o in enumerate(original) if np.array_equal(o[2], p[2])), None) for p in played]
    assert None not in at, at  # each picture is one of the file's, exactly
    # in display order with none missing, but where the cut left B-frames without their last reference
    assert at[:-4] == list(range(at[0], at[0] + len(at) - 4)) and at == sorted(at), at


async def collect(source, limit: int | None = None, timeout: float = 60.0) -> list:
    await source.start()
    frames: list = []

    async def read() -> None:
        async for frame in source:
            frames.append(frame)
            if limit is not None and len(frames) >= limit:
                return

    try:
        await asyncio.wait_for(read(), timeout)
    finally:
        await source.stop()
    return frames


async def test_a_file_source_loops_on_gstreamer_with_the_clock_continuing(clip):
    source = FileSource("loop", clip, decoder="gstreamer", loop=True)
    frames = await collect(source, limit=150)
    assert source.decoder_choice.name == "gstreamer"
    assert [f.seq for f in frames] == list(range(150))
    assert all(b.pts > a.pts for a, b in zip(frames, frames[1:]))
    assert frames[60].pts == pytest.approx(2.0, abs=0.05) and frames[120].pts == pytest.approx(4.0, abs=0.1)


@pytest.mark.parametrize(("max_fps", "skipped"), [(1.0, "non_key"), (5.0, "non_ref")])
async def test_sampling_skips_before_decoding_on_gstreamer(clip, max_fps, skipped):
    """1 fps of a key frame every 0.4 s: key frames only; 5 fps of 30: the decoder skips B-frames."""
    source = FileSource("sampled", clip, decoder="gstreamer", max_fps=max_fps)
    frames = await collect(source)
    assert source.stats.skipped[skipped] > 0
    assert source.stats.decoded < 60 and 2 * max_fps - 1 <= len(frames) <= 2 * max_fps + 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00garbage" * 500, "is not a readable video (Could not determine type of stream.)"),
        ("audio", "has no video stream (it has audio)"),
    ],
)
async def test_a_bad_file_gives_the_kinds_message_with_gstreamers_words(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    if content == "audio":
        with av.open(str(path), "w") as container:
            stream = container.add_stream("aac", rate=16000)
            for i in range(10):
                frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 16000, i * 1024
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
    else:
        path.write_bytes(content)
    with pytest.raises(SourceOpenError) as failed:
        await FileSource("bad", path, decoder="gstreamer").start()
    assert f"source 'bad': {path} {message}" in str(failed.value)


def test_the_decoder_element_named_for_the_codec_is_used_or_refused_clearly(clip):
    with pytest.raises(OpenFailed, match=r"^decoder element 'nvv4l2decoder' \(for h264\) is not installed$"):
        GStreamerDecoder({"h264": "nvv4l2decoder"}).open(InputSpec("file", str(clip)))
    _, _, opened = decode(GStreamerDecoder({"h264": "openh264dec", "hevc": "nvv4l2decoder"}), InputSpec("file", str(clip)), 1)
    assert opened.decoder_element == "openh264dec"  # named for its codec; the other name is not asked about


async def test_devices_refuse_ffmpegs_lavfi_and_non_v4l2_nodes():
    lavfi = WebcamSource("synthetic", "testsrc=size=64x48", driver="lavfi", decoder="gstreamer")
    with pytest.raises(SourceOpenError, match="driver 'lavfi' is FFmpeg's; the gstreamer decoder reads V4L2"):
        await lavfi.start()
    null = WebcamSource("null", "/dev/null", decoder="gstreamer")
    with pytest.raises(SourceOpenError, match="isn't a v4l2 driver"):
        await null.start()


def test_a_refused_connection_fails_at_once_in_gstreamers_words():
    srv = RtspServer()  # a free port, nothing listening
    started_at = time.monotonic()
    with pytest.raises(OpenFailed, match="Failed to connect"):
        GStreamerDecoder().open(InputSpec("rtsp", srv.url(), open_timeout_s=5))
    assert time.monotonic() - started_at < 5


async def test_credentials_in_the_url_log_in_and_wrong_ones_keep_retrying():
    srv = started(RtspServer("--auth"))
    try:
        wrong = RTSPSource("gate", srv.url(credentials="viewer:guess@"), open_timeout_s=2.0, reconnect=FAST, decoder="gstreamer")
        right = RTSPSource("gate2", srv.url(credentials="viewer:letmein@"), reconnect=FAST, decoder="gstreamer")
        await wrong.start()
        await right.start()
        frames = await take(right, 10)
        deadline = time.monotonic() + 15
        while wrong.attempts < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await wrong.stop()
        await right.stop()
    finally:
        srv.stop()
    assert len(frames) == 10 and frames[0].image.shape == (240, 320, 3)
    assert wrong.stats.emitted == 0 and "Unauthorized (401)" in (wrong.last_error or "")
    assert "guess" not in (wrong.last_error or "")


def camera_skew(decoder, url: str, transport: str) -> float:
    """Where the camera's clock (RTCP) puts a frame, against its arrival here (same host, same clock)."""
    opened = decoder.open(InputSpec("rtsp", url, transport=transport, open_timeout_s=10, read_timeout_s=10))
    try:
        deadline = time.monotonic() + 20
        for picture in opened.frames(TakeAll(), None, 0.0):
            arrival = time.time()
            if opened.wallclock_origin is not None and picture.pts is not None:
                return opened.wallclock_origin + picture.pts - arrival
            assert time.monotonic() < deadline, "no RTCP sender report within 20 s"
        raise AssertionError("the stream ended before the camera's clock was known")
    finally:
        opened.close()


@pytest.mark.serial
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_capture_times_follow_the_rtcp_clock_as_pyavs_do(server, transport):
    gst = camera_skew(GStreamerDecoder(), server.url(), transport)
    ffmpeg = camera_skew(PyAVDecoder(), server.url(), transport)
    assert -1.0 < gst <= 0.01, f"the camera's clock puts a frame {gst:+.3f} s from its arrival"
    assert abs(gst - ffmpeg) < 0.5  # both read the same sender reports; their buffering differs a little


@pytest.mark.serial
def test_a_stalled_camera_fails_the_read_after_read_timeout(server):
    opened = GStreamerDecoder().open(InputSpec("rtsp", server.url(), open_timeout_s=10, read_timeout_s=1.5))
    assert server.proc is not None
    try:
        frames = opened.frames(TakeAll(), None, 0.0)
        next(frames)
        server.proc.send_signal(signal.SIGSTOP)  # the connection stays open, nothing comes
        started_at = time.monotonic()
        with pytest.raises(DecodeFailed, match=r"no video data for 1.5 s"):
            for _ in frames:
                assert time.monotonic() - started_at < 30
    finally:
        server.proc.send_signal(signal.SIGCONT)
        opened.close()


def test_closing_leaves_no_pipeline_or_thread_behind(clip):
    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    decoder = GStreamerDecoder()
    decode(decoder, InputSpec("file", str(clip)), 1)  # GLib's lasting threads (its pool spawner) start with the first
    before = threads()
    for _ in range(10):
        opened = decoder.open(InputSpec("file", str(clip)))
        frames = opened.frames(TakeAll(), None, 0.0)
        next(frames)  # mid-stream, both pipelines' threads running
        pipelines = (opened._demuxer.pipeline, opened._branch.pipeline)
        opened.close()
        assert all(p.get_state(0)[1].value_nick == "null" for p in pipelines)
    deadline = time.monotonic() + 30
    while threads() > before + 2:  # GStreamer's pooled threads end when idle
        assert time.monotonic() < deadline, f"{threads()} threads, {before} before"
        time.sleep(0.1)


def test_a_missing_parser_fails_the_open_with_its_name(clip, monkeypatch):
    """Elements made in a streaming thread (a stream's parser) fail the open, not a traceback."""
    from vigil.sources.decode import _gst_demux

    monkeypatch.setitem(_gst_demux._PARSERS, "video/x-h264", ("h264parse-missing", "video/x-h264,stream-format=byte-stream"))
    with pytest.raises(OpenFailed, match=r"^GStreamer element 'h264parse-missing' is not installed$"):
        GStreamerDecoder().open(InputSpec("file", str(clip)))
