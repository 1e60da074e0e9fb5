"""`/api/v1/streams` and `/metrics` report each input of a camera with `inputs:`: the daemon runs
a real model on a camera whose substream (detect) is served by a real RTSP server and whose main
stream (record) is not there at all: the detect input streams, the record input reconnects with
backoff, and detection goes on. Credentials never show."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import pytest

from tests.integration.daemon.test_daemon_api import started
from tests.integration.sources.test_inputs import Server, free_port, streams  # noqa: F401 - `streams` is a fixture
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.daemon.service import Daemon

SECRET = "Hunter2Main"


@pytest.fixture
def sub_server(streams):  # noqa: F811
    server = Server(streams["sub"]).start()
    yield server
    server.kill()


def config(tmp_path, nudenet_path, sub_url: str, main_url: str) -> DaemonConfig:
    return DaemonConfig.model_validate(
        {
            "model": {"path": str(nudenet_path), "image_size": 320},
            "sources": [
                {
                    "name": "door",
                    "inputs": [{"url": sub_url, "roles": ["detect"]}, {"url": main_url, "roles": ["record"]}],
                    "clips": {"directory": str(tmp_path / "clips")},
                    "max_fps": 5,
                    "open_timeout_s": 2,
                    "reconnect": {"initial_s": 0.2, "max_s": 1.0},
                }
            ],
            "sinks": [{"kind": "jsonl", "path": str(tmp_path / "r.jsonl")}],
        }
    )


async def poll(http: aiohttp.ClientSession, url: str, check, timeout: float = 60.0):
    """GET `url` until `check(answer)` holds (the JSON answer, or the text for /metrics)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get(url)
        answer = await (response.text() if url.endswith("/metrics") else response.json())
        if check(answer):
            return answer
        assert time.monotonic() < deadline, f"{url} never answered as expected; last: {str(answer)[:2000]}"
        await asyncio.sleep(0.2)


def door(answer) -> dict:
    return next(s for s in answer["streams"] if s["name"] == "door")


async def test_streams_and_metrics_show_each_input_with_its_state(tmp_path, nudenet_path, sub_server):
    main_url = f"rtsp://viewer:{SECRET}@127.0.0.1:{free_port()}/main"  # nothing listens there
    daemon = Daemon(config(tmp_path, nudenet_path, sub_server.url, main_url), ApiConfig(port=0))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    try:
        async with aiohttp.ClientSession(headers={"X-Vigil-Console": "1"}) as http:

            def split(answer) -> bool:
                inputs = door(answer)["inputs"]
                return [i["state"] for i in inputs] == ["streaming", "reconnecting"] and inputs[1]["attempts"] >= 2

            answer = await poll(http, f"{base}/api/v1/streams", split)
            stream = door(answer)
            assert stream["url"] == sub_server.url  # the detect input's
            detect, record = stream["inputs"]
            assert (detect["index"], detect["roles"], detect["url"], detect["connections"]) == (0, ["detect"], sub_server.url, 1)
            assert detect["retry_in_s"] is None and "packets" not in detect
            assert (record["index"], record["roles"], record["connections"], record["packets"]) == (1, ["record"], 0, 0)
            assert record["url"] == f"rtsp://viewer:***@{main_url.rsplit('@', 1)[1]}"
            assert record["last_error"] and "cannot open" in record["last_error"] and 0 < record["retry_in_s"] <= 1.2
            await poll(http, f"{base}/api/v1/streams", lambda a: door(a)["results"] > 0)  # detection goes on
            metrics = await poll(http, f"{base}/metrics", lambda text: "vigil_input_state" in text)
            assert re.search(r'vigil_input_state\{input="record",source="door",state="reconnecting"\} 1\.0', metrics)
            assert re.search(r'vigil_input_state\{input="detect",source="door",state="streaming"\} 1\.0', metrics)
            assert re.search(r'vigil_input_connections_total\{input="detect",source="door"\} 1\.0', metrics)
            attempts = re.search(r'vigil_input_connect_attempts_total\{input="record",source="door"\} (\d+)', metrics)
            assert attempts and int(attempts.group(1)) >= 2
            one = await (await http.get(f"{base}/api/v1/streams/door")).json()
            assert [i["roles"] for i in one["inputs"]] == [["detect"], ["record"]]
            texts = [str(answer), metrics, str(one), await (await http.get(f"{base}/api/v1/config")).text()]
            assert not any(SECRET in text for text in texts)
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 60)
