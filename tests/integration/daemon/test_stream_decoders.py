"""`GET /api/v1/streams` says which decoder each stream got and why, for the YAML's streams and for
one added over the API: the daemon in-process with its real API, a real model and real clips."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from tests.conftest import encode_clip, photo
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.daemon import decoders
from vigil.daemon.service import Daemon

NO_HARDWARE = "auto: no hardware decoder element (looked for nvv4l2decoder, nvh264dec, nvh265dec, vah264dec, vah265dec); PyAV"


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory):
    return encode_clip(tmp_path_factory.mktemp("cam") / "cam.mp4", photo("astronaut"), frames=30, size=(320, 240), fps=10)


async def test_streams_name_each_decoder_and_why(tmp_path, nudenet_path, camera_clip, caplog, monkeypatch):
    monkeypatch.setattr(decoders, "_told", [])  # the once-per-process log line, as at a first start
    caplog.set_level(logging.INFO, logger="vigil")
    config = DaemonConfig.model_validate(
        {
            "model": {"path": str(nudenet_path), "image_size": 320},
            "sources": [
                {"name": "door", "url": str(camera_clip), "realtime": True, "loop": True},  # auto
                {"name": "yard", "url": str(camera_clip), "realtime": True, "loop": True, "decoder": "pyav"},
            ],
            "sinks": [{"kind": "jsonl", "path": str(tmp_path / "r.jsonl")}],
        }
    )
    daemon = Daemon(config, ApiConfig(port=0))
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_ready(), 60)
    base = f"http://127.0.0.1:{daemon.api_port}"
    try:
        async with aiohttp.ClientSession(headers={"X-Vigil-Console": "1"}) as http:
            deadline = time.monotonic() + 30
            while True:  # a file's codec is known from its first pass on the decode thread
                streams = (await (await http.get(f"{base}/api/v1/streams")).json())["streams"]
                by_name = {s["name"]: s["decoder"] for s in streams}
                if all("codec" in d for d in by_name.values()) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert "decoder auto: no hardware decoder element (looked for nvv4l2decoder," in caplog.text
            # Both files open: their codec is known (PyAV names no element).
            assert by_name == {
                "door": {"name": "pyav", "reason": NO_HARDWARE, "codec": "h264"},
                "yard": {"name": "pyav", "reason": "asked for by name", "codec": "h264"},
            }
            added = await http.post(
                f"{base}/api/v1/streams", json={"name": "gate", "url": "rtsp://127.0.0.1:9/none", "decoder": "pyav"}
            )
            assert added.status == 201, await added.text()
            # A camera that never connects: no codec yet, and the key is left out rather than null.
            assert (await added.json())["decoder"] == {"name": "pyav", "reason": "asked for by name"}
            gate = await (await http.get(f"{base}/api/v1/streams/gate")).json()
            assert gate["decoder"] == {"name": "pyav", "reason": "asked for by name"}
            refused = await http.post(
                f"{base}/api/v1/streams", json={"name": "x", "url": "rtsp://127.0.0.1:9/x", "decoder": "vlc"}
            )
            assert refused.status == 422
            assert "decoder 'vlc' is unknown; choose one of: auto, pyav, gstreamer" in (await refused.json())["error"]
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 60)
