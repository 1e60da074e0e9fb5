"""The gstreamer decoder's pieces that read formats: GStreamer's I420 layout as OpenCV takes it,
caps in FFmpeg's terms, the non-reference pictures it leaves undecoded, the decoding times it
guesses for RTP's packets, and which decoder element it picks. Real GStreamer, no files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.conftest import photo
from vigil.sources.decode._gst_caps import codec_name, nal_length_size, non_reference, stream_params
from vigil.sources.decode._gst_decode import decoder_factory
from vigil.sources.decode._gst_lib import Gst, init
from vigil.sources.decode._gst_picture import GstPicture, i420
from vigil.sources.decode.gstreamer import REORDER_DEPTH, DecodingTimes


@pytest.fixture(scope="module", autouse=True)
def gstreamer() -> None:
    init()


def one_picture(width: int, height: int) -> tuple:
    """One SMPTE test picture in I420, and GStreamer's own conversion of it to BGR and to grey."""
    size = f"width={width},height={height}"
    pipeline = Gst.parse_launch(
        f"videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=I420,{size} ! tee name=t "
        "t. ! queue ! appsink name=yuv sync=false "
        f"t. ! queue ! videoconvert ! video/x-raw,format=BGR,{size} ! appsink name=bgr sync=false "
        f"t. ! queue ! videoconvert ! video/x-raw,format=GRAY8,{size} ! appsink name=grey sync=false"
    )
    pipeline.set_state(Gst.State.PLAYING)
    try:
        samples = [pipeline.get_by_name(name).emit("try-pull-sample", 10 * Gst.SECOND) for name in ("yuv", "bgr", "grey")]
        assert None not in samples
        return tuple(sample.get_buffer() for sample in samples)
    finally:
        pipeline.set_state(Gst.State.NULL)


def photo_i420(width: int, height: int):
    """A real photo (scikit-image's astronaut) as GStreamer's I420 at that size."""
    image = np.ascontiguousarray(cv2.resize(photo("astronaut"), (width, height), interpolation=cv2.INTER_AREA))
    pipeline = Gst.parse_launch(
        f"appsrc name=in caps=video/x-raw,format=BGR,width={width},height={height},framerate=1/1 format=time "
        f"! videoconvert ! video/x-raw,format=I420 ! appsink name=out sync=false"
    )
    pipeline.set_state(Gst.State.PLAYING)
    try:
        stride = (width * 3 + 3) & ~3
        rows = np.zeros((height, stride), np.uint8)
        rows[:, : width * 3] = image.reshape(height, width * 3)
        pipeline.get_by_name("in").emit("push-buffer", Gst.Buffer.new_wrapped(rows.tobytes()))
        sample = pipeline.get_by_name("out").emit("try-pull-sample", 10 * Gst.SECOND)
        assert sample is not None
        return sample.get_buffer()
    finally:
        pipeline.set_state(Gst.State.NULL)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("size", [(320, 240), (322, 240), (301, 225), (7, 5)])
def test_i420_pictures_convert_to_the_bgr_gstreamer_itself_makes(size):
    """Even, padded (a chroma row of 161 bytes padded to 164) and odd sizes."""
    width, height = size
    yuv, bgr, grey = one_picture(width, height)
    picture = GstPicture(yuv, 0.0, True, size)
    stride = (width * 3 + 3) & ~3
    theirs = np.frombuffer(bgr.extract_dup(0, bgr.get_size()), np.uint8).reshape(height, stride)[:, : width * 3]
    ours = picture.to_bgr()
    assert ours.shape == (height, width, 3) and ours.flags.writeable
    assert psnr(ours, theirs.reshape(height, width, 3)) > 30  # two conversions of one picture; a wrong layout gives < 15
    grey_stride = (width + 3) & ~3
    want = np.frombuffer(grey.extract_dup(0, grey.get_size()), np.uint8).reshape(height, grey_stride)[:, :width]
    assert np.array_equal(picture.luma(), want)  # the luma plane is the picture's grey, as it is


@pytest.mark.parametrize(("size", "output"), [((320, 240), (160, 120)), ((301, 225), (99, 75)), ((64, 48), (128, 97))])
def test_pictures_scale_by_area_to_the_output_size_when_asked(size, output):
    yuv = photo_i420(*size)
    native = GstPicture(yuv, 0.0, True, size)
    scaled = GstPicture(yuv, 0.0, True, size, output)
    assert (scaled.width, scaled.height) == output
    bgr, grey = scaled.to_bgr(), scaled.luma()
    assert bgr.shape == (output[1], output[0], 3) and grey is not None
    assert np.array_equal(grey, cv2.resize(native.luma(), output, interpolation=cv2.INTER_AREA))
    assert psnr(bgr, cv2.resize(native.to_bgr(), output, interpolation=cv2.INTER_AREA)) > 30
    assert scaled.luma() is grey  # kept for the next gate


def test_i420_without_padding_is_a_view_of_the_bytes():
    data = bytes(range(256)) * 450  # 320x240 I420: 115200 bytes
    packed = i420(data, 320, 240)
    assert packed.shape == (360, 320) and not packed.flags.owndata


def nal(header: int, body: bytes = b"\x88\x84", length_size: int = 4) -> bytes:
    return (len(body) + 1).to_bytes(length_size, "big") + bytes([header]) + body


@pytest.mark.parametrize(
    ("codec", "units", "length_size", "expected"),
    [
        ("h264", [0x06, 0x01], 4, True),  # SEI, then a slice with nal_ref_idc 0: a B-frame nobody refers to
        ("h264", [0x06, 0x41], 4, False),  # nal_ref_idc 2: a reference
        ("h264", [0x65], 2, False),  # IDR
        ("h264", [0x09, 0x21], 1, False),  # AUD, then a referenced slice (nal_ref_idc 1)
        ("hevc", [0x4E << 0, 0x00], 4, True),  # prefix SEI (39), then TRAIL_N (0)
        ("hevc", [0x02], 4, False),  # TRAIL_R (1)
        ("hevc", [0x10], 4, True),  # RASL_N (8)
        ("hevc", [0x26], 4, False),  # IDR_W_RADL (19)
    ],
)
def test_non_reference_pictures_are_told_by_their_first_slice(codec, units, length_size, expected):
    data = b"".join(nal(unit, length_size=length_size) for unit in units)
    assert non_reference(data, codec, length_size) is expected


def test_caps_read_as_ffmpeg_names_them():
    avc = Gst.Caps.from_string(
        "video/x-h264,stream-format=avc,alignment=au,width=640,height=480,framerate=30/1,pixel-aspect-ratio=4/3,"
        "chroma-format=4:2:0,bit-depth-luma=(uint)8,codec_data=(buffer)0164001effe1000467640000010004"
    )
    params = stream_params(avc)
    assert (params.codec, params.width, params.height, params.fps, params.pix_fmt) == ("h264", 640, 480, 30.0, "yuv420p")
    assert params.extradata == bytes.fromhex("0164001effe1000467640000010004") and nal_length_size(avc) == 4
    assert params.sample_aspect_ratio == pytest.approx(4 / 3)
    hvc = Gst.Caps.from_string("video/x-h265,stream-format=hvc1,codec_data=(buffer)" + "00" * 21 + "0f")
    assert codec_name(hvc) == "hevc" and nal_length_size(hvc) == 4
    assert nal_length_size(Gst.Caps.from_string("video/x-h264,stream-format=byte-stream")) is None
    assert codec_name(Gst.Caps.from_string("video/mpeg,mpegversion=4")) == "mpeg4"
    assert codec_name(Gst.Caps.from_string("image/jpeg")) == "mjpeg"


def test_decoding_times_rise_and_never_pass_presentation_times():
    """RTP's B-frames in decode order (I0 P3 B1 B2 P6 B4 B5 ...), a key frame every 12."""
    guess = DecodingTimes(1 / 30)
    order = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 12, 10, 11, 15, 13, 14]
    pts = [n / 30 for n in order]
    dts = [guess(p) for p in pts]
    assert all(b > a for a, b in zip(dts, dts[1:]))
    assert all(d <= p for d, p in zip(dts, pts))
    assert dts[REORDER_DEPTH] == 0.0 and dts[0] == pytest.approx(-REORDER_DEPTH / 30)


def test_the_decoder_element_is_the_named_one_or_the_highest_ranked():
    h264 = Gst.Caps.from_string("video/x-h264,stream-format=avc,alignment=au")
    assert decoder_factory(h264, "h264", None) == "avdec_h264"  # gst-libav's, ranked primary
    assert decoder_factory(h264, "h264", {"h264": "openh264dec"}) == "openh264dec"
    assert decoder_factory(h264, "h264", {"hevc": "nvv4l2decoder"}) == "avdec_h264"
    assert decoder_factory(Gst.Caps.from_string("video/x-raw"), "rawvideo", None) is None
    with pytest.raises(LookupError, match=r"decoder element 'nvh264dec' \(for h264\) is not installed"):
        decoder_factory(h264, "h264", {"h264": "nvh264dec"})
    with pytest.raises(LookupError, match="no GStreamer decoder for x-unknown is installed"):
        decoder_factory(Gst.Caps.from_string("video/x-unknown"), "x-unknown", None)
