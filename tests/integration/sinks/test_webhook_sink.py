"""The webhook sink against a real aiohttp receiver on 127.0.0.1, with a real spool on disk."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.ports import free_port
from tests.support.results import make_result
from vigil.pipeline.fanout import Fanout, Outlet
from vigil.result import InferenceResult
from vigil.sinks import ResultFilter, WebhookOptions, WebhookSink
from vigil.sinks.records import result_to_record
from vigil.sinks.spool import FsyncPolicy, Spool, SpoolOptions
from vigil.sinks.webhook import Backoff, result_id

SECRET = b"correct horse battery staple"


@dataclass
class Answer:
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""


@dataclass
class Seen:
    """One request as the receiver got it."""

    at: float
    headers: dict[str, str]
    body: dict[str, Any]
    status: int
    signed: bool | None  # None: the receiver checks no signature

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.body["results"]]


class Receiver:
    """A webhook endpoint: answers from `script` in turn, then `default`. A 2xx answer counts
    the request's results as taken before any delay, as a real receiver that commits and then
    answers slowly would. A HEAD (the sink's probe) gets `head_status`: 405 as from any
    POST-only endpoint, 503 from a gateway whose backend is down."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret
        self.script: list[Answer] = []
        self.default = Answer()
        self.seen: list[Seen] = []
        self.taken: list[dict[str, Any]] = []
        self.head_status = 405
        self.probes: list[tuple[float, int]] = []  # (when, answer) of each HEAD
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        app.router.add_head("/hook", self._head)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def verify(self, headers: dict[str, str], raw: bytes) -> bool:
        assert self.secret is not None
        expected = hmac.new(self.secret, headers["X-Vigil-Timestamp"].encode() + b"." + raw, hashlib.sha256).hexdigest()
        fresh = abs(time.time() - int(headers["X-Vigil-Timestamp"])) < 300
        return fresh and hmac.compare_digest(headers.get("X-Vigil-Signature", ""), f"sha256={expected}")

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        headers = dict(request.headers)
        answer = self.script.pop(0) if self.script else self.default
        body = json.loads(raw)
        signed = self.verify(headers, raw) if self.secret is not None else None
        self.seen.append(Seen(time.monotonic(), headers, body, answer.status, signed))
        if 200 <= answer.status < 300:
            self.taken += body["results"]
        await asyncio.sleep(answer.delay_s)
        return web.Response(status=answer.status, headers=answer.headers, text=answer.text)

    async def _head(self, request: web.Request) -> web.Response:
        self.probes.append((time.monotonic(), self.head_status))
        return web.Response(status=self.head_status)

    def taken_by_source(self) -> dict[str, list[int]]:
        """Each source's frames in the order first taken (duplicates are resends)."""
        first: dict[str, dict[str, Any]] = {}
        for r in self.taken:
            first.setdefault(r["id"], r)
        by_source: dict[str, list[int]] = defaultdict(list)
        for r in first.values():
            by_source[r["source"]].append(r["seq"])
        return dict(by_source)


def fast_options(**overrides: Any) -> WebhookOptions:
    settings: dict[str, Any] = {
        "backoff": Backoff(initial_s=0.05, max_s=0.2),
        "request_timeout_s": 2.0,
        "close_grace_s": 0.5,
        "spool": SpoolOptions(fsync=FsyncPolicy.NEVER),
    }
    return WebhookOptions(**{**settings, **overrides})


async def publish_all(sink: WebhookSink, results: list[InferenceResult]) -> None:
    for result in results:
        await sink.publish(result)


def two_sources(n: int) -> list[InferenceResult]:
    return [make_result(source, seq) for seq in range(n) for source in ("cam1", "cam2")]


@pytest.fixture
async def receiver():
    receivers: list[Receiver] = []

    async def make(secret: bytes | None = None, port: int = 0) -> Receiver:
        receivers.append(await Receiver(secret).start(port))
        return receivers[-1]

    yield make
    for r in receivers:
        await r.stop()


async def test_every_result_arrives_in_order_through_outage_errors_throttling_and_slowness(tmp_path):
    port = free_port()  # nothing listens here yet
    sink = WebhookSink(
        f"http://127.0.0.1:{port}/hook", tmp_path / "spool", options=fast_options(batch_max=4, request_timeout_s=0.4)
    )
    await sink.start()
    results = two_sources(10)
    await publish_all(sink, results)
    await asyncio.sleep(0.4)
    assert sink.retries >= 2 and sink.delivered == 0 and sink.backlog == 20

    r = Receiver()
    r.script = [Answer(500), Answer(503), Answer(429, headers={"Retry-After": "1"}), Answer(200, delay_s=0.8)]
    await r.start(port)
    try:
        await sink.flush(timeout=15)
    finally:
        await sink.close()
        await r.stop()

    assert sink.backlog == 0
    assert r.taken_by_source() == {"cam1": list(range(10)), "cam2": list(range(10))}
    assert {x["id"] for x in r.taken} == {result_id(result_to_record(x)) for x in results}
    keys_per_result: dict[str, set[str]] = defaultdict(set)
    for seen in r.seen:
        for rid in seen.ids:
            keys_per_result[rid].add(seen.headers["Idempotency-Key"])
    assert all(len(keys) == 1 for keys in keys_per_result.values())  # a resend carries the same key
    assert len(r.taken) > 20  # the slow answer was taken, timed out here, and sent again
    statuses = [s.status for s in r.seen]
    assert statuses[:4] == [500, 503, 429, 200]
    after_429 = r.seen[3].at - r.seen[2].at
    assert after_429 >= 0.95  # Retry-After: 1 was respected
    assert sink.delivered == 20 and sink.dead_lettered == 0


async def test_every_request_carries_a_valid_signature_and_the_documented_body(tmp_path, receiver):
    r = await receiver(secret=SECRET)
    sink = WebhookSink(r.url, tmp_path / "spool", options=fast_options(secret=SECRET, batch_max=3, batch_linger_ms=50))
    await sink.start()
    results = two_sources(5)
    await publish_all(sink, results)
    await sink.flush(timeout=10)
    await sink.close()

    assert r.seen and all(s.signed for s in r.seen)
    assert max(len(s.ids) for s in r.seen) == 3  # batched
    for seen in r.seen:
        assert seen.headers["Content-Type"] == "application/json"
        assert seen.body["schema"] == "vigil.webhook/1"
        if len(seen.ids) == 1:
            assert seen.headers["Idempotency-Key"] == seen.ids[0]
    expected = [{"id": result_id(result_to_record(x)), **result_to_record(x)} for x in results]
    assert r.taken == expected
    tampered = dict(r.seen[0].headers, **{"X-Vigil-Timestamp": str(int(time.time()) + 1)})
    assert not r.verify(tampered, json.dumps(r.seen[0].body).encode())


async def test_a_400_dead_letters_the_request_and_delivery_goes_on(tmp_path, receiver, caplog):
    r = await receiver()
    r.script = [Answer(200), Answer(400, text="results[0].source: unknown camera")]
    sink = WebhookSink(r.url, tmp_path / "spool", options=fast_options(batch_max=1))
    await sink.start()
    results = [make_result("cam1", seq) for seq in range(5)]
    with caplog.at_level(logging.ERROR):
        for result in results:
            await sink.publish(result)
            await sink.flush(timeout=5)  # one request per result, in turn
    await sink.close()

    assert sink.dead_lettered == 1 and sink.delivered == 4 and sink.retries == 0
    lines = [json.loads(line) for line in sink.dead_letter_path.read_text().splitlines()]
    assert len(lines) == 1
    assert lines[0]["status"] == 400 and "unknown camera" in lines[0]["reason"]
    assert lines[0]["result"]["seq"] == 1 and lines[0]["result"]["id"] == result_id(result_to_record(results[1]))
    assert [x["seq"] for x in r.taken] == [0, 2, 3, 4]
    assert "HTTP 400" in caplog.text and str(sink.dead_letter_path) in caplog.text


async def test_results_left_on_disk_at_close_are_sent_with_their_ids_after_a_restart(tmp_path, receiver):
    r = await receiver()
    r.default = Answer(503)
    spool = tmp_path / "spool"
    first = WebhookSink(r.url, spool, options=fast_options(batch_max=2))
    await first.start()
    results = two_sources(4)
    await publish_all(first, results)
    await first.flush(timeout=0.3)
    await first.close()
    refused = {rid for s in r.seen for rid in s.ids}
    assert refused and not r.taken

    r.default = Answer(200)
    second = WebhookSink(r.url, spool, options=fast_options(batch_max=2))
    await second.start()
    assert second.backlog == 8
    await second.flush(timeout=10)
    await second.close()
    assert r.taken_by_source() == {"cam1": [0, 1, 2, 3], "cam2": [0, 1, 2, 3]}
    assert refused <= {x["id"] for x in r.taken}  # the same ids as before the restart


async def test_the_filter_decides_what_is_sent(tmp_path, receiver):
    r = await receiver()
    only_faces = ResultFilter(classes={"FACE_FEMALE"}, only_with_detections=True)
    sink = WebhookSink(r.url, tmp_path / "spool", options=fast_options())
    outlet = Outlet(sink, only_faces)  # the fanout applies a sink's filter before its publish
    fanout = Fanout([outlet])
    await fanout.start()
    await fanout.publish(make_result("cam1", 0, class_ids=[0, 2], confidences=[0.9, 0.8]))
    await fanout.publish(make_result("cam1", 1, class_ids=[2], confidences=[0.9]))
    await sink.flush(timeout=5)
    await fanout.close()
    assert outlet.filtered == 1 and sink.delivered == 1
    assert [d["class_name"] for d in r.taken[0]["detections"]] == ["FACE_FEMALE"]


async def test_credentials_never_reach_logs_or_names(tmp_path, receiver, caplog):
    r = await receiver()
    r.script = [Answer(500, text="no"), Answer(401, text="who are you")]
    url = r.url.replace("http://", "http://robot:hunter2-token@") + "?key=q-secret"
    options = fast_options(secret=SECRET, batch_max=1)
    with caplog.at_level(logging.DEBUG):
        sink = WebhookSink(url, tmp_path / "a", options=options)
        await sink.start()
        await sink.publish(make_result("cam1", 0))
        await sink.flush(timeout=5)
        await sink.close()
        bearer = WebhookSink(r.url, tmp_path / "b", options=fast_options(headers={"Authorization": "Bearer tok-9f8e7d"}))
        await bearer.start()
        await bearer.publish(make_result("cam1", 1))
        await bearer.flush(timeout=5)
        await bearer.close()
    assert sink.dead_lettered == 1 and bearer.delivered == 1
    assert r.seen[0].headers["Authorization"].startswith("Basic ")
    assert r.seen[-1].headers["Authorization"] == "Bearer tok-9f8e7d"
    shown = caplog.text + sink.name + repr(options) + bearer.name + repr(bearer.options)
    shown += sink.dead_letter_path.read_text()
    assert "HTTP 500" in caplog.text and "HTTP 401" in caplog.text
    for secret in ("hunter2-token", "q-secret", SECRET.decode(), "tok-9f8e7d"):
        assert secret not in shown


async def test_publishing_does_not_wait_for_the_receiver(tmp_path):
    sink = WebhookSink(f"http://127.0.0.1:{free_port()}/hook", tmp_path / "spool", options=fast_options())
    await sink.start()
    t0 = time.monotonic()
    await publish_all(sink, two_sources(50))
    assert time.monotonic() - t0 < 2.0 and sink.backlog == 100
    await sink.close()
    spool = Spool(tmp_path / "spool", SpoolOptions(fsync=FsyncPolicy.NEVER))
    assert spool.backlog == 100  # kept on disk for the next start
    spool.close()


def test_importing_vigil_sinks_does_not_import_aiohttp():
    code = "import sys, vigil.sinks, vigil.cli.main; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- `vigil run --webhook` as a real process ------------------------------------------------------


async def vigil_run(*args: str, stderr: Path) -> asyncio.subprocess.Process:
    with open(stderr, "ab") as err:
        return await asyncio.create_subprocess_exec(sys.executable, "-m", "vigil", "run", *args, stderr=err)


async def test_results_spooled_by_a_killed_run_are_delivered_by_the_next_one(tmp_path, receiver, clips, nudenet_path):
    r = await receiver(secret=SECRET)
    r.default = Answer(503)
    spool = tmp_path / "spool"
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET + b"\n")
    common = [
        "--model",
        str(nudenet_path),
        "--webhook",
        r.url,
        "--spool-dir",
        str(spool),
        "--webhook-secret-file",
        str(secret_file),
    ]

    first = await vigil_run("--source", f"run1={clips['astronaut']}", *common, stderr=tmp_path / "first.log")
    deadline = time.monotonic() + 30
    while not r.seen and time.monotonic() < deadline and first.returncode is None:
        await asyncio.sleep(0.02)
    first.kill()  # SIGKILL: no flush, no close
    await first.wait()
    assert r.seen, (tmp_path / "first.log").read_text()
    with Spool(spool, SpoolOptions(fsync=FsyncPolicy.NEVER)) as left:
        spooled = [json.loads(record.payload) for record in left.read(1000)]
    assert spooled and [x["seq"] for x in spooled] == list(range(len(spooled)))

    r.default = Answer(200)
    second = await vigil_run("--source", f"run2={clips['coffee']}", *common, stderr=tmp_path / "second.log")
    assert await asyncio.wait_for(second.wait(), 60) == 0, (tmp_path / "second.log").read_text()

    assert all(s.signed for s in r.seen)
    taken = r.taken_by_source()
    first_taken = [x for x in r.taken if x["source"] == "run1"]
    assert [x["id"] for x in first_taken] == [x["id"] for x in spooled]  # exactly the spooled ones, once
    assert first_taken == spooled
    assert taken["run2"] == list(range(18))
    refused_in_first_run = {rid for s in r.seen if s.status == 503 for rid in s.ids}
    assert refused_in_first_run <= {x["id"] for x in first_taken}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vigil", "run", *args], capture_output=True, text=True, timeout=60, check=False)


def test_run_needs_out_or_webhook(tmp_path, clips):
    proc = run_cli("--model", "m.onnx", "--source", str(clips["coffee"]))
    assert proc.returncode == 2 and "give at least one output: --out FILE, --webhook URL" in proc.stderr


def test_an_unreadable_secret_file_is_one_clear_error(tmp_path, clips, nudenet_path):
    missing = tmp_path / "nope"
    proc = run_cli(
        "--model",
        str(nudenet_path),
        "--source",
        str(clips["coffee"]),
        "--webhook",
        "http://127.0.0.1:9/h",
        "--webhook-secret-file",
        str(missing),
        "--spool-dir",
        str(tmp_path / "spool"),
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().splitlines()[-1]
        == f"vigil: error: webhook secret file {missing}: cannot read it (No such file or directory); check the path"
    )


@pytest.mark.parametrize(
    ("flags", "spool"),
    [
        (["--out", "out/r.jsonl"], "out/spool"),
        ([], "vigil-spool"),
        (["--out", "r.jsonl", "--spool-dir", "/var/spool/vigil"], "/var/spool/vigil"),
    ],
)
def test_the_spool_directory_defaults_beside_the_output_file(flags, spool):
    from vigil.cli.main import _parser, config_from_args

    args = _parser().parse_args(["run", "--model", "m.onnx", "--source", "a.mp4", "--webhook", "https://h/x", *flags])
    config = config_from_args(args)
    hook = config.sink("webhook")
    assert hook is not None and hook.spool_dir == spool
    assert (config.sink("jsonl") is None) == ("--out" not in flags)
