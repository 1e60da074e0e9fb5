"""A camera that the hardware decoder `auto` chose cannot decode falls back to PyAV by itself.

No hardware decoder exists here, so the "hardware" is faked (the test names say so): the real
GStreamer decoder is told to decode H.264 with `identity`, an element that exists but decodes
nothing, and the source's choice is marked as `auto`'s hardware pick. The camera is real (the
GStreamer RTSP test server), and so are PyAV and the connections it falls back to."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.integration.sources.test_rtsp import FAST, served_clip, server, take, wait_state  # noqa: F401 - fixtures
from vigil.sources import RTSPSource, SourceState
from vigil.sources._decoding import FALLBACK_AFTER
from vigil.sources.decode.auto import Choice
from vigil.sources.decode.gstreamer import GStreamerDecoder


def fake_hardware_choice() -> Choice:
    decoder = GStreamerDecoder(elements={"h264": "identity"})
    return Choice(decoder, "gstreamer", "auto: identity found and decoded the H.264 probe (fake)", hardware=True)


async def test_fake_hardware_decoder_that_cannot_decode_the_camera_falls_back_to_pyav(server, caplog):  # noqa: F811
    caplog.set_level(logging.WARNING, logger="vigil.sources._decoding")
    source = RTSPSource("cam", server.url(), reconnect=FAST)
    source.decoder_choice = fake_hardware_choice()
    source.decoder = source.decoder_choice.decoder
    await source.start()
    try:
        frames = await take(source, 10, timeout=60.0)
        await wait_state(source, SourceState.STREAMING)
    finally:
        await source.stop()
    assert frames[0].image.shape == (240, 320, 3)
    assert source.decoder_choice.name == "pyav" and not source.decoder_choice.hardware
    reason = source.decoder_choice.reason
    assert f"identity failed {FALLBACK_AFTER} times in a row" in reason and "fell back to PyAV" in reason, reason
    assert "was: auto: identity found" in reason
    assert source.connections >= FALLBACK_AFTER + 1  # the failed ones, then PyAV's
    warnings = [r.getMessage() for r in caplog.records if "fell back to PyAV" in r.getMessage()]
    assert len(warnings) == 1, warnings


async def test_fake_hardware_decoder_keeps_its_camera_while_the_camera_sends_nothing():
    """A camera that accepts no connection (or sends no key frame) is not the decoder's fault:
    the hardware pick stays, however many attempts fail."""
    source = RTSPSource("cam", "rtsp://127.0.0.1:9/none", reconnect=FAST)
    source.decoder_choice = fake_hardware_choice()
    source.decoder = source.decoder_choice.decoder
    await source.start()
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while source.attempts < FALLBACK_AFTER + 2:
            assert asyncio.get_running_loop().time() < deadline, f"only {source.attempts} attempts"
            await asyncio.sleep(0.05)
    finally:
        await source.stop()
    assert source.decoder_choice.hardware and source.decoder_choice.name == "gstreamer"
    assert source.hardware_failures == 0


@pytest.mark.parametrize("decoder", ["pyav", "gstreamer"])
async def test_a_decoder_asked_for_by_name_never_falls_back(decoder):
    source = RTSPSource("cam", "rtsp://127.0.0.1:9/none", reconnect=FAST, decoder=decoder)
    assert not source.decoder_choice.hardware
    source._decoded_nothing("whatever")  # no hardware pick: nothing to fall back from
    assert source.decoder_choice.name == decoder and source.hardware_failures == 0
