"""`vigil.sources.decode.auto.choose`: the one place that picks a source's decoder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.fake_decoder import FakeDecoder
from vigil.errors import ConfigError, MissingDependencyError
from vigil.sources import FileSource, RTSPSource, WebcamSource
from vigil.sources.decode import auto, choose
from vigil.sources.decode.pyav import PyAVDecoder


def test_auto_picks_pyav_and_says_why():
    choice = choose()
    assert isinstance(choice.decoder, PyAVDecoder) and choice.name == "pyav"
    assert choice.reason == "auto: PyAV is the only decoder available"
    assert choose("pyav").reason == "asked for by name" and isinstance(choose("pyav").decoder, PyAVDecoder)


def test_a_decoder_object_is_taken_as_it_is():
    fake = FakeDecoder()
    choice = choose(fake)
    assert choice.decoder is fake and choice.name == "fake" and choice.reason == "given"


@pytest.mark.parametrize("name", ["gstreamer", "PyAV", "", "nvdec"])
def test_an_unknown_name_is_refused_with_the_known_ones(name):
    with pytest.raises(ConfigError) as refused:
        choose(name)
    assert str(refused.value) == f"decoder {name!r} is unknown; choose one of: auto, pyav"


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
