"""The daemon in-process with its real management API (aiohttp server and client), a real model,
real paced video sources and a real JSONL sink."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from tests.conftest import encode_clip, photo
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.daemon.service import Daemon

TOKEN = "t0ken-for-the-tests-only"


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory):
    return encode_clip(tmp_path_factory.mktemp("cam") / "cam.mp4", photo("astronaut"), frames=30, size=(320, 240), fps=10)


def with_sink(config: DaemonConfig, **entry: object) -> DaemonConfig:
    """`config` with one more `sinks:` entry, validated as the YAML's would be."""
    data = config.model_dump()
    return DaemonConfig.model_validate({**data, "sinks": [*data["sinks"], entry]})


def config(tmp_path, nudenet_path, clip, names=("door",)) -> DaemonConfig:
    return DaemonConfig.model_validate(
        {
            "model": {"path": str(nudenet_path), "image_size": 320},
            "sources": [{"name": n, "url": str(clip), "realtime": True, "loop": True} for n in names],
            "sinks": [{"kind": "jsonl", "path": str(tmp_path / "r.jsonl")}],
        }
    )


async def until(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def started(daemon: Daemon) -> asyncio.Task:
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_ready(), 30)
    return task


async def test_health_readiness_metrics_and_streams(tmp_path, nudenet_path, camera_clip):
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip), ApiConfig(port=0))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    async with aiohttp.ClientSession(headers={"X-Vigil-Console": "1"}) as http:
        assert (await (await http.get(f"{base}/healthz")).json()) == {"status": "ok"}

        async def ready() -> bool:
            return (await http.get(f"{base}/readyz")).status == 200

        await until(ready)

        async def inferred() -> bool:
            text = await (await http.get(f"{base}/metrics")).text()
            return 'vigil_frames_inferred_total{source="door"}' in text

        await until(inferred)
        text = await (await http.get(f"{base}/metrics")).text()
        assert 'vigil_source_state{source="door",state="streaming"} 1.0' in text
        assert "vigil_batch_size_bucket" in text and "vigil_stage_latency_seconds_bucket" in text
        assert 'vigil_queue_depth{queue="batcher",source="door"}' in text

        streams = (await (await http.get(f"{base}/api/v1/streams")).json())["streams"]
        assert [s["name"] for s in streams] == ["door"] and streams[0]["state"] == "streaming"

        # A camera with a password: added, shown and counted without it.
        new = {"name": "gate", "url": "rtsp://admin:hunter2@127.0.0.1:9/none"}
        response = await http.post(f"{base}/api/v1/streams", json=new)
        assert response.status == 201, await response.text()
        body = await response.text()
        assert "hunter2" not in body and "admin:***@" in body
        assert (await http.post(f"{base}/api/v1/streams", json=new)).status == 409
        bad = await http.post(f"{base}/api/v1/streams", json={"name": "x y", "url": ""})
        assert bad.status == 422 and "name" in (await bad.json())["error"]
        gate = await (await http.get(f"{base}/api/v1/streams/gate")).json()
        assert gate["state"] in ("connecting", "reconnecting") and "hunter2" not in str(gate)
        assert "hunter2" not in await (await http.get(f"{base}/metrics")).text()
        assert (await http.delete(f"{base}/api/v1/streams/gate")).status == 200
        assert (await http.get(f"{base}/api/v1/streams/gate")).status == 404

        model = await (await http.get(f"{base}/api/v1/model")).json()
        assert model["model_id"] == "320n" and "FACE_FEMALE" in model["classes"]
        spec = await (await http.get(f"{base}/api/v1/openapi.json")).json()
        assert spec["openapi"].startswith("3.") and "/api/v1/streams/{name}" in spec["paths"]
    daemon.stop()
    report = await asyncio.wait_for(task, 30)
    assert report.sources["door"].results > 0


async def test_a_token_guards_everything_but_healthz(tmp_path, nudenet_path, camera_clip):
    # Bound off loopback (every interface), as a box on the camera network would be.
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip), ApiConfig(host="0.0.0.0", port=0, token=TOKEN))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    async with aiohttp.ClientSession() as http:
        assert (await http.get(f"{base}/healthz")).status == 200
        for path in ("/readyz", "/metrics", "/api/v1/streams", "/api/v1/model"):
            assert (await http.get(base + path)).status == 401
            assert (await http.get(base + path, headers={"Authorization": "Bearer wrong"})).status == 401
        ok = await http.get(f"{base}/api/v1/streams", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status == 200
    daemon.stop()
    await asyncio.wait_for(task, 30)


def test_listening_off_loopback_needs_a_token():
    with pytest.raises(ValidationError, match="off loopback"):
        ApiConfig(host="0.0.0.0")
    assert ApiConfig(host="0.0.0.0", token=TOKEN).host == "0.0.0.0"
    assert ApiConfig(host="::1").loopback


async def test_reload_restarts_only_what_changed(tmp_path, nudenet_path, camera_clip):
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip, names=("door", "yard")), ApiConfig(enabled=False))
    task = await started(daemon)
    assert daemon.pipeline is not None
    door = next(s for s in daemon.pipeline.sources if s.source_id == "door")
    await until(lambda: _results(daemon, "door", 3))
    await daemon.reload(config(tmp_path, nudenet_path, camera_clip, names=("door", "porch")))
    assert sorted(s.source_id for s in daemon.pipeline.sources) == ["door", "porch"]
    assert door in daemon.pipeline.sources  # untouched: the same source object, never stopped
    before = daemon.pipeline.report.sources["door"].results
    await until(lambda: _results(daemon, "porch", 3))
    assert daemon.pipeline.report.sources["door"].results > before  # kept streaming throughout
    daemon.stop()
    await asyncio.wait_for(task, 30)


async def test_reload_replaces_a_changed_sink_without_losing_or_repeating_a_result(tmp_path, nudenet_path, camera_clip):
    import json

    first = config(tmp_path, nudenet_path, camera_clip)
    daemon = Daemon(first, ApiConfig(enabled=False))
    task = await started(daemon)
    assert daemon.pipeline is not None
    door = daemon.pipeline.sources[0]
    await until(lambda: _results(daemon, "door", 5))
    second = first.model_copy(update={"sinks": [first.sinks[0].model_copy(update={"path": str(tmp_path / "r2.jsonl")})]})
    await daemon.reload(second)
    assert daemon.pipeline.sources == [door]  # the stream was not touched
    assert daemon.config.sink("jsonl") == second.sink("jsonl")
    await until(lambda: _lines(tmp_path / "r2.jsonl", 5))
    daemon.stop()
    await asyncio.wait_for(task, 30)
    old = [json.loads(line)["seq"] for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    new = [json.loads(line)["seq"] for line in (tmp_path / "r2.jsonl").read_text().splitlines()]
    assert old and new and max(old) < min(new)  # the old file got everything before the swap
    assert len(set(old + new)) == len(old + new) == daemon.pipeline.report.sources["door"].results


async def test_reload_to_another_webhook_url_hands_the_spool_over(tmp_path, nudenet_path, camera_clip):
    """Receiver A refuses everything (503), so results pile up in the spool; a reload points the
    webhook at B with the same spool: B gets every result, the ones spooled for A included."""
    from tests.integration.sinks.test_webhook_sink import Answer, Receiver

    a, b = await Receiver().start(), await Receiver().start()
    a.default = Answer(status=503)
    try:
        base = config(tmp_path, nudenet_path, camera_clip)
        first = with_sink(base, kind="webhook", url=a.url, spool_dir=str(tmp_path / "spool"))
        daemon = Daemon(first, ApiConfig(enabled=False))
        task = await started(daemon)
        await until(lambda: _async(len(a.seen) >= 2))  # A has refused at least twice
        assert a.taken == []
        await daemon.reload(with_sink(base, kind="webhook", url=b.url, spool_dir=str(tmp_path / "spool")))
        await until(lambda: _async(len(b.taken) >= 10))
        daemon.stop()
        await asyncio.wait_for(task, 30)
        assert daemon.pipeline is not None
        seqs = b.taken_by_source()["door"]
        assert seqs[0] == 0 and seqs == sorted(seqs)  # in order, starting with what A refused
        assert len(seqs) == daemon.pipeline.report.sources["door"].results  # every result, once
    finally:
        await a.stop()
        await b.stop()


async def test_reload_adds_and_removes_sinks_by_name(tmp_path, nudenet_path, camera_clip):
    first = config(tmp_path, nudenet_path, camera_clip)
    daemon = Daemon(first, ApiConfig(enabled=False))
    task = await started(daemon)
    assert daemon.pipeline is not None
    await until(lambda: _lines(tmp_path / "r.jsonl", 3))
    both = with_sink(first, kind="jsonl", name="extra", path=str(tmp_path / "extra.jsonl"))
    await daemon.reload(both)
    assert [s.name for s in daemon.pipeline.sinks] == ["jsonl", "extra"]
    await until(lambda: _lines(tmp_path / "extra.jsonl", 3))
    only_extra = DaemonConfig.model_validate({**both.model_dump(), "sinks": [both.model_dump()["sinks"][1]]})
    await daemon.reload(only_extra)
    assert [s.name for s in daemon.pipeline.sinks] == ["extra"] and daemon.config.sink("jsonl") is None
    written = len((tmp_path / "r.jsonl").read_text().splitlines())
    grown = len((tmp_path / "extra.jsonl").read_text().splitlines()) + 3
    await until(lambda: _lines(tmp_path / "extra.jsonl", grown))
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == written  # the removed sink gets nothing more
    daemon.stop()
    await asyncio.wait_for(task, 30)


async def _async(value: bool) -> bool:
    return value


async def _lines(path: Path, n: int) -> bool:
    return path.is_file() and len(path.read_text().splitlines()) >= n


async def _results(daemon: Daemon, name: str, n: int) -> bool:
    assert daemon.pipeline is not None
    report = daemon.pipeline.report.sources.get(name)
    return report is not None and report.results >= n


async def test_systemd_hears_ready_status_watchdog_reloading_and_stopping(tmp_path, nudenet_path, camera_clip, monkeypatch):
    import socket

    path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # pinged every 0.2 s
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip), ApiConfig(enabled=False))
    task = await started(daemon)
    await asyncio.sleep(1.0)
    await daemon.reload(config(tmp_path, nudenet_path, camera_clip, names=("door", "porch")))
    daemon.stop()
    await asyncio.wait_for(task, 30)
    messages = []
    while True:
        try:
            messages.append(listener.recv(4096).decode())
        except BlockingIOError:
            break
    listener.close()
    assert "NOTIFY_SOCKET" not in __import__("os").environ  # children do not inherit it
    kinds = [m.split("=", 1)[0] for m in messages]
    assert kinds[0] == "READY" and "STATUS" in kinds and kinds.count("WATCHDOG") >= 3
    assert any(m.startswith("STATUS=") and "streams streaming" in m for m in messages)
    reloading = next(m for m in messages if m.startswith("RELOADING=1"))
    assert "MONOTONIC_USEC=" in reloading
    assert kinds.index("RELOADING") < len(kinds) - 1 - kinds[::-1].index("READY")  # ready again after the reload
    assert "STOPPING" in kinds


async def test_reload_loads_a_changed_model_before_releasing_the_old_one(tmp_path, nudenet_path, camera_clip, caplog):
    first = config(tmp_path, nudenet_path, camera_clip)
    daemon = Daemon(first, ApiConfig(enabled=False))
    task = await started(daemon)
    assert daemon.pipeline is not None
    old = daemon.pipeline.model
    await until(lambda: _results(daemon, "door", 2))
    bigger = first.model_copy(update={"model": first.model.model_copy(update={"image_size": 416})})
    await daemon.reload(bigger)
    assert daemon.pipeline.model is not old and daemon.config.model.image_size == 416
    before = daemon.pipeline.report.sources["door"].results
    await until(lambda: _results(daemon, "door", before + 3))  # results go on with the new model
    broken = first.model_copy(update={"model": first.model.model_copy(update={"path": str(tmp_path / "gone.onnx")})})
    await daemon.reload(broken)
    assert daemon.config.model.image_size == 416  # the running model stays
    assert "reload: keeping model" in caplog.text
    daemon.stop()
    await asyncio.wait_for(task, 30)


async def _readyz(http, base: str) -> tuple[int, dict]:
    response = await http.get(f"{base}/readyz")
    return response.status, await response.json()


async def test_readyz_names_a_failing_webhook_until_its_backlog_drains(tmp_path, nudenet_path, camera_clip):
    """The receiver is down: once delivery has failed for `unhealthy_after_s` /readyz is 503
    and names the webhook; the receiver comes back, the backlog drains and /readyz is 200."""
    from tests.integration.sinks.test_webhook_sink import Receiver, free_port

    port = free_port()
    base_config = config(tmp_path, nudenet_path, camera_clip)
    hooked = with_sink(
        base_config,
        kind="webhook",
        url=f"http://robot:hunter2@127.0.0.1:{port}/hook",
        spool_dir=str(tmp_path / "spool"),
        unhealthy_after_s=1.0,
    )
    daemon = Daemon(hooked, ApiConfig(port=0))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    receiver = Receiver()
    try:
        async with aiohttp.ClientSession() as http:

            async def unready() -> bool:
                return (await _readyz(http, base))[0] == 503

            await until(unready)
            status, body = await _readyz(http, base)
            webhook = body["checks"]["sinks"]["webhook"]
            assert not body["ready"] and not webhook["ok"]
            assert "receiver unreachable for" in webhook["reason"] and "waiting in the spool" in webhook["reason"]
            assert any(r.startswith("sink 'webhook'") for r in body["reasons"])
            assert body["checks"]["sources"]["door"]["ok"] and body["checks"]["sinks"]["jsonl"]["ok"]
            assert body["checks"]["model"] == {"ok": True, "model_id": "320n"}
            assert "hunter2" not in json.dumps(body)

            await receiver.start(port)

            async def ready() -> bool:
                return (await _readyz(http, base))[0] == 200

            await until(ready)
            status, body = await _readyz(http, base)
            assert body["ready"] and body["reasons"] == [] and body["checks"]["sinks"]["webhook"]["ok"]
            assert receiver.taken
        daemon.stop()
        await asyncio.wait_for(task, 30)
    finally:
        await receiver.stop()


async def test_readyz_is_503_naming_the_sources_when_every_camera_is_down(tmp_path, nudenet_path):
    from tests.integration.sinks.test_webhook_sink import free_port

    cameras = [{"name": n, "url": f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/live"} for n in ("gate", "yard")]
    down = DaemonConfig.model_validate(
        {
            "model": {"path": str(nudenet_path), "image_size": 320},
            "sources": [{**c, "reconnect": {"initial_s": 0.2, "max_s": 1.0}} for c in cameras],
            "sinks": [{"kind": "jsonl", "path": str(tmp_path / "r.jsonl")}],
        }
    )
    daemon = Daemon(down, ApiConfig(port=0))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    async with aiohttp.ClientSession() as http:

        async def reconnecting() -> bool:
            _, body = await _readyz(http, base)
            return all(s["state"] == "reconnecting" for s in body["checks"]["sources"].values())

        await until(reconnecting)
        status, body = await _readyz(http, base)
        assert status == 503 and not body["ready"]
        assert set(body["checks"]["sources"]) == {"gate", "yard"}
        for check in body["checks"]["sources"].values():
            assert not check["ok"] and check["reason"]
        assert body["reasons"][0].startswith("no source is streaming: gate reconnecting")
        assert "yard" in body["reasons"][0] and "hunter2" not in json.dumps(body)
        assert body["checks"]["sinks"]["jsonl"]["ok"]
        assert (await http.get(f"{base}/healthz")).status == 200  # alive all the same
        spec = await (await http.get(f"{base}/api/v1/openapi.json")).json()
        assert "Readiness" in spec["components"]["schemas"]
    daemon.stop()
    await asyncio.wait_for(task, 30)


async def test_a_stream_added_over_the_api_gets_its_own_stages_and_its_own_kind(tmp_path, nudenet_path, camera_clip):
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip), ApiConfig(port=0, allowed_media=[str(camera_clip.parent)]))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    async with aiohttp.ClientSession(headers={"X-Vigil-Console": "1"}) as http:
        wrong = {"name": "porch", "url": str(camera_clip), "transport": "udp"}
        refused = await http.post(f"{base}/api/v1/streams", json=wrong)
        assert refused.status == 422 and "'transport' is a setting of rtsp sources" in (await refused.json())["error"]
        quiet = {
            "name": "porch",
            "url": str(camera_clip),
            "realtime": True,
            "loop": True,
            "stages": [{"kind": "filter", "classes": ["NO_SUCH_CLASS"], "only_with_detections": True}],
        }
        response = await http.post(f"{base}/api/v1/streams", json=quiet)
        assert response.status == 201, await response.text()
        assert daemon.layer.origin("porch") == "api"

        async def porch_inferred() -> bool:
            assert daemon.pipeline is not None
            return daemon.pipeline.report.sources["porch"].results >= 10

        await until(porch_inferred)
    daemon.stop()
    await asyncio.wait_for(task, 30)
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert {r["source"] for r in records} == {"door"}  # porch's filter stage let nothing through
