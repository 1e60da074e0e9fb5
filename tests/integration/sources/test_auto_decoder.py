"""`decoder:` from the YAML to the source, and `auto` end to end against this machine's real
GStreamer: with GStreamer's software decoders standing in as the "hardware" candidates, `auto`
probes them for real, gives the GStreamer decoder those elements, and a real clip decodes
through the element it found."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import encode_clip, photo
from tests.integration.sources.test_gstreamer import decode
from vigil.api.models import DecoderChoice
from vigil.config.loader import load_config
from vigil.daemon.assemble import make_source
from vigil.daemon.decoders import describe_decoder
from vigil.sources import FileSource
from vigil.sources.decode import _hardware, choose
from vigil.sources.decode._hardware import Candidate
from vigil.sources.decode.base import InputSpec
from vigil.sources.decode.gstreamer import GStreamerDecoder
from vigil.sources.decode.pyav import PyAVDecoder


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return encode_clip(tmp_path_factory.mktemp("auto") / "clip.mp4", photo("astronaut"), 12, size=(320, 240), fps=10)


@pytest.mark.parametrize("name, kind", [("gstreamer", GStreamerDecoder), ("pyav", PyAVDecoder)])
def test_the_yamls_decoder_reaches_the_source(tmp_path, clip, name, kind):
    path = tmp_path / "vigil.yaml"
    path.write_text(
        f"model:\n  path: m\nsources:\n  - name: door\n    url: {clip}\n    decoder: {name}\njsonl:\n  path: r.jsonl\n"
    )
    [config] = load_config(path).sources
    assert config.decoder == name
    source = make_source(config)
    assert source.decoder_choice.name == name and source.decoder_choice.reason == "asked for by name"
    assert type(source.decoder) is kind


@pytest.fixture
def stand_ins(monkeypatch):
    """GStreamer's software decoders as auto's candidates (openh264dec rather than the
    highest-ranked avdec_h264, so that the element found is seen to be the one used), and the
    process's answer forgotten before and after."""
    monkeypatch.setattr(
        _hardware,
        "CANDIDATES",
        (Candidate("nvv4l2decoder", ("h264", "hevc"), "absent here"), Candidate("identity", ("h264",), "no decoder")),
    )
    monkeypatch.setattr(_hardware, "_found", None)
    yield lambda *candidates: monkeypatch.setattr(_hardware, "CANDIDATES", (*_hardware.CANDIDATES, *candidates))


async def test_auto_probes_real_elements_and_decodes_through_the_one_it_found(stand_ins, clip):
    stand_ins(Candidate("openh264dec", ("h264",), "stand-in"), Candidate("avdec_h265", ("hevc",), "stand-in"))
    choice = choose("auto")
    assert choice.name == "gstreamer"
    assert choice.reason == (
        "auto: openh264dec found and decoded the H.264 probe; avdec_h265 found and decoded the H.265 probe; "
        "identity found but failed the H.264 probe (it returned no picture)"
    )
    assert isinstance(choice.decoder, GStreamerDecoder)
    assert choice.decoder.elements == {"h264": "openh264dec", "hevc": "avdec_h265"}
    pictures, _, opened = decode(choice.decoder, InputSpec("file", str(clip)))
    assert opened.decoder_element == "openh264dec" and len(pictures) == 12

    source = FileSource("door", clip, decoder="auto")  # the same answer, kept for the process
    assert source.decoder_choice.name == "gstreamer" and source.decoder_choice.reason == choice.reason
    await source.start()
    try:
        frames = [frame async for frame in source]
    finally:
        await asyncio.wait_for(source.stop(), 30)
    assert len(frames) == 12 and frames[0].image.shape == (240, 320, 3)
    assert describe_decoder(source) == DecoderChoice(
        name="gstreamer", reason=choice.reason, codec="h264", element="openh264dec"
    )  # what /api/v1/streams says of it


def test_auto_with_elements_that_all_fail_their_probes_gives_pyav_and_says_so(stand_ins):
    choice = choose("auto")
    assert isinstance(choice.decoder, PyAVDecoder)
    assert choice.reason == (
        "auto: identity found but failed the H.264 probe (it returned no picture); "
        "no other hardware decoder element (looked for nvv4l2decoder); PyAV"
    )
