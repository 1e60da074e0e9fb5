"""`vigil.sources.decode.auto.choose`: the one place that picks a source's decoder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.fake_decoder import FakeDecoder
from vigil.config.decoding import DECODER_NAMES
from vigil.errors import ConfigError, MissingDependencyError
from vigil.sources import FileSource, RTSPSource, WebcamSource
from vigil.sources.decode import _hardware, auto, choose
from vigil.sources.decode._probe_streams import probe_stream
from vigil.sources.decode.pyav import PyAVDecoder

NO_HARDWARE = "auto: no hardware decoder element (looked for nvv4l2decoder, nvh264dec, nvh265dec, vah264dec, vah265dec); PyAV"


def test_auto_without_hardware_picks_pyav_and_names_what_it_looked_for():
    # This machine: GStreamer and its nvcodec and va plugins are installed, no NVIDIA or VA device.
    choice = choose()
    assert isinstance(choice.decoder, PyAVDecoder) and choice.name == "pyav"
    assert choice.reason == NO_HARDWARE
    assert choose("pyav").reason == "asked for by name" and isinstance(choose("pyav").decoder, PyAVDecoder)


def test_a_decoder_object_is_taken_as_it_is():
    fake = FakeDecoder()
    choice = choose(fake)
    assert choice.decoder is fake and choice.name == "fake" and choice.reason == "given"


@pytest.mark.parametrize("name", ["PyAV", "", "nvdec", "nvv4l2decoder"])
def test_an_unknown_name_is_refused_with_the_known_ones(name):
    with pytest.raises(ConfigError) as refused:
        choose(name)
    assert str(refused.value) == f"decoder {name!r} is unknown; choose one of: {', '.join([auto.AUTO, *auto.DECODERS])}"


def test_the_config_knows_the_same_decoder_names_as_the_sources():
    assert DECODER_NAMES == (auto.AUTO, *auto.DECODERS)


@pytest.mark.parametrize(
    "make",
    [
        lambda d: FileSource("a", "/nonexistent.mp4", decoder=d),
        lambda d: RTSPSource("a", "rtsp://127.0.0.1:1/live", decoder=d),
        lambda d: WebcamSource("a", "/dev/video0", decoder=d),
    ],
)
def test_every_source_kind_asks_auto_and_refuses_an_unknown_decoder_when_made(make):
    assert make("auto").decoder_choice.name == "pyav"
    assert make("pyav").decoder_choice.reason == "asked for by name"
    with pytest.raises(ConfigError, match="decoder 'vlc' is unknown"):
        make("vlc")


def test_a_decoder_that_cannot_be_imported_names_itself(monkeypatch):
    monkeypatch.setitem(auto.DECODERS, "broken", "vigil.sources.decode.no_such_module:Decoder")
    with pytest.raises(MissingDependencyError, match=r"decoder 'broken' cannot be loaded .*choose decoder 'auto'"):
        choose("broken")


def test_a_decoder_library_is_imported_only_when_its_decoder_is_chosen():
    code = (
        "import sys\n"
        "from vigil.sources import FileSource\n"
        "from vigil.sources.decode import choose\n"
        "before = 'av' in sys.modules\n"
        "choose('pyav')\n"
        "print(before, 'av' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "True"]


def test_a_webcam_on_auto_gets_pyav_and_says_why():
    choice = WebcamSource("a", "/dev/video0").decoder_choice
    assert choice.name == "pyav" and choice.reason == "auto: a capture device is read through FFmpeg; PyAV"


def test_choosing_a_decoder_never_looks_for_hardware_at_import_or_by_name():
    code = (
        "import sys\n"
        "import vigil.cli.main\n"
        "from vigil.sources.decode import choose\n"
        "from vigil.sources.decode import _hardware\n"
        "choose('pyav')\n"
        "print('gi' in sys.modules, _hardware._found is None)\n"
        "choose('auto')\n"
        "print(_hardware._found is None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "True", "False"]


def test_auto_without_pygobject_gives_pyav_at_once_and_says_why():
    # PyGObject made unimportable in a fresh process, as on a machine without the gstreamer extra.
    code = (
        "import sys\n"
        "sys.modules['gi'] = None\n"
        "from vigil.sources.decode import choose\n"
        "choice = choose('auto')\n"
        "print(choice.name)\n"
        "print(choice.reason)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    name, reason = out.stdout.splitlines()
    assert name == "pyav"
    assert reason == (
        "auto: PyGObject is not installed (the gstreamer extra: pip install 'vigil-analytics[gstreamer]'), "
        "so no GStreamer decoder was looked for; PyAV"
    )


@pytest.mark.parametrize("codec, element", [("h264", "avdec_h264"), ("hevc", "avdec_h265")])
def test_the_real_probe_is_decoded_by_a_working_element(codec, element):
    # The probe pipeline for real (appsrc ! parser ! element ! fakesink), with GStreamer's
    # software decoders standing in for a hardware one.
    assert _hardware._GStreamer().decodes(element, codec) is None


@pytest.mark.parametrize(
    "codec, element, why",
    [
        ("h264", "identity", "it returned no picture"),  # passes the H.264 through: no picture
        ("hevc", "avdec_h264", "cannot be made: "),  # cannot take H.265
    ],
)
def test_the_real_probe_tells_an_element_that_does_not_decode(codec, element, why):
    assert _hardware._GStreamer().decodes(element, codec).startswith(why)


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_the_probe_streams_are_two_small_frames_of_their_codec(codec):
    import io

    import av

    with av.open(io.BytesIO(probe_stream(codec)), format=codec) as container:
        frames = list(container.decode(video=0))
        assert container.streams.video[0].codec_context.name == codec
    assert [(f.width, f.height) for f in frames] == [(320, 240), (320, 240)]
    assert len(probe_stream(codec)) < 1024


def test_the_real_probe_gives_up_on_an_element_that_does_not_answer(monkeypatch):
    # identity sleeping 3 s on each buffer stands in for a hung driver; the probe waits 0.5 s.
    monkeypatch.setattr(_hardware, "PROBE_TIMEOUT_S", 0.5)
    assert _hardware._GStreamer().decodes("identity sleep-time=3000000", "h264") == "no answer within 0.5 s"


def test_the_real_probe_says_when_the_pipeline_cannot_start():
    # A sink made to fail its state change stands in for a decoder that cannot open its device.
    why = _hardware._GStreamer().decodes("fakesink state-error=ready-to-paused identity", "h264")
    assert why.startswith("could not start: ") and "state change failed" in why
