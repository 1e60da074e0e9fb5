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
            assert detect["retry_in_s"] is None and "packets" not in detect and record["clock"] == "arrival"
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
            ready = await (await http.get(f"{base}/readyz")).json()  # the record input is shown, detection decides
            door_check = ready["checks"]["sources"]["door"]
            assert door_check["ok"] and door_check["record"]["state"] == "reconnecting", door_check
            assert "cannot open" in door_check["record"]["reason"] and ready["ready"], ready
            texts = [str(answer), metrics, str(one), str(ready), await (await http.get(f"{base}/api/v1/config")).text()]
            assert not any(SECRET in text for text in texts)
            await added_over_the_api(http, base, tmp_path)
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 60)


async def added_over_the_api(http: aiohttp.ClientSession, base: str, tmp_path) -> None:
    """A camera with inputs added through the API: an input's password_file is refused (the API
    never reads a file a request names, and this one would go to the request's host), one input
    with both roles is taken and listed with its input."""
    secret = tmp_path / "server-secret"
    secret.write_text("server-side-secret-content\n")
    async with Listener() as catcher:
        probe = {"url": f"rtsp://admin@127.0.0.1:{catcher.port}/x", "roles": ["detect"], "password_file": str(secret)}
        response = await http.post(f"{base}/api/v1/streams", json={"name": "probe", "inputs": [probe]})
        assert response.status == 422 and "inputs.0.password_file" in (await response.json())["error"]
        await asyncio.sleep(1.0)  # what a started stream would have taken to connect
        assert catcher.received == b""
    url = f"rtsp://viewer:{SECRET}@127.0.0.1:{free_port()}/both"
    response = await http.post(
        f"{base}/api/v1/streams", json={"name": "porch", "inputs": [{"url": url, "roles": ["detect", "record"]}]}
    )
    assert response.status == 201, await response.text()
    porch = await poll(http, f"{base}/api/v1/streams/porch", lambda a: a.get("inputs") and a["inputs"][0]["attempts"] >= 1)
    assert [(i["index"], i["roles"]) for i in porch["inputs"]] == [(0, ["detect"])]  # no clips through the API
    assert SECRET not in str(porch)


class Listener:
    """A TCP server that records every byte sent to it (a host of an attacker's choosing)."""

    def __init__(self) -> None:
        self.received = b""
        self.port = 0

    async def __aenter__(self) -> Listener:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.received += await reader.read(65536)
            writer.close()

        self._server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()
