"""The webhook sink with receivers as people write them: Python's own `http.server`, which
answers 501 to the sink's HEAD probe (it implements POST only), gets deliveries within seconds
of coming back rather than after the whole backoff; and `signing: standard` requests verify with
the Standard Webhooks library (`standardwebhooks`, https://www.standardwebhooks.com), retries
included, while vigil's own scheme stays the default."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.integration.sinks.test_webhook_sink import free_port
from tests.support.results import T0, make_result
from vigil.cli.check import check_config
from vigil.config.loader import parse_config
from vigil.errors import ConfigError
from vigil.events import Event
from vigil.sinks import WebhookOptions, WebhookSink
from vigil.sinks._http import Backoff
from vigil.sinks.registry import build_sink
from vigil.sinks.spool import FsyncPolicy, SpoolOptions

KEY = bytes(range(32))
WHSEC = "whsec_" + base64.b64encode(KEY).decode()


class PostOnly(BaseHTTPRequestHandler):
    """A receiver written with the standard library: POST only, so HEAD is a 501."""

    taken: list[float]  # when each request was taken (monotonic)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        self.taken.append(time.monotonic())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_receiver_without_head_gets_deliveries_within_seconds_of_coming_back(tmp_path):
    """Backoff of 60 s: the first retry waits 30-60 s; probing every second, a 501 to HEAD now
    ends that wait (before, any 5xx counted as still down and the wait ran out)."""
    port = free_port()
    options = WebhookOptions(
        backoff=Backoff(initial_s=60.0, max_s=60.0),
        probe_after_s=2.0,
        probe_interval_s=0.5,
        request_timeout_s=5.0,
        close_grace_s=0.5,
        spool=SpoolOptions(fsync=FsyncPolicy.NEVER),
    )
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook", tmp_path / "spool", options=options)
    handler = type("Handler", (PostOnly,), {"taken": []})
    server: ThreadingHTTPServer | None = None
    await sink.start()
    try:
        await sink.publish(make_result("cam1", 0))
        await until(lambda: sink.retries >= 1, 20, "a failed first attempt")  # nothing listens: refused
        await asyncio.sleep(1.0)  # well into the 30-60 s wait, probes refused meanwhile
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        back = time.monotonic()
        await until(lambda: sink.delivered == 1, 15, "the delivery after the receiver came back")
    finally:
        await sink.close()
        if server is not None:
            server.shutdown()
            server.server_close()
    assert handler.taken[0] - back < 10.0  # about a second of probing, against at least 29 s of backoff


class Standard:
    """An aiohttp receiver verifying each request with the Standard Webhooks library; answers
    500 to the first request (so a retry is verified too), then 200."""

    def __init__(self) -> None:
        self.verified: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.refused: list[str] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Standard:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]
        return self

    async def handle(self, request: web.Request) -> web.Response:
        raw, headers = await request.read(), dict(request.headers)
        self.headers.append(headers)
        try:
            body = Webhook(WHSEC).verify(raw, headers)
        except WebhookVerificationError as exc:
            self.refused.append(str(exc))
            return web.Response(status=401)
        try:
            Webhook(WHSEC).verify(raw + b" ", headers)  # a changed body does not verify
            self.refused.append("a tampered body verified")
        except WebhookVerificationError:
            pass
        self.verified.append(body)
        return web.Response(status=500 if len(self.headers) == 1 else 200)


def entry(tmp_path: Path, url: str, signing: str | None, secret: str) -> str:
    (tmp_path / "hook.secret").write_text(secret + "\n")
    extra = f", signing: {signing}" if signing else ""
    return (
        f"model: {{path: unused.onnx}}\nsources: [{{name: cam, url: cam.mp4}}]\nsinks:\n"
        f"  - {{kind: webhook, url: '{url}', secret_file: {tmp_path / 'hook.secret'}, spool_dir: {tmp_path / 'spool'}, "
        f"records: [results, events], retry_initial_s: 0.05, retry_max_s: 0.2{extra}}}\n"
    )


async def test_standard_signing_verifies_with_the_standard_webhooks_library(tmp_path):
    receiver = await Standard().start()
    config = parse_config(entry(tmp_path, receiver.url, "standard", WHSEC), "hook.yaml", {})
    sink = await build_sink(config.sinks[0])
    await sink.start()
    try:
        for seq in range(3):
            await sink.publish(make_result("cam", seq))
            await sink.publish_event(Event("object_start", "cam", 1, "person", 0, T0, seq))
            await sink.flush(10)
    finally:
        await sink.close()
        assert receiver.runner is not None
        await receiver.runner.cleanup()
    assert receiver.refused == [] and len(receiver.verified) >= 4  # every request, the 500'd one and its retry too
    assert receiver.verified[0] == receiver.verified[1]
    first, retry = receiver.headers[:2]
    assert first["webhook-id"] == retry["webhook-id"] == first["Idempotency-Key"]  # the same message, resent
    taken = receiver.verified[1:]
    assert sorted(r["seq"] for b in taken for r in b["results"]) == [0, 1, 2]
    assert sorted(e["seq"] for b in taken for e in b.get("events", [])) == [0, 1, 2]
    assert "X-Vigil-Signature" not in first and first["webhook-signature"].startswith("v1,")
    assert WHSEC not in json.dumps(receiver.headers) and base64.b64encode(KEY).decode() not in json.dumps(receiver.headers)


async def test_vigil_signing_stays_the_default(tmp_path):
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]
    try:
        sink = await build_sink(parse_config(entry(tmp_path, url, None, "s3cret"), "hook.yaml", {}).sinks[0])
        await sink.start()
        await sink.publish(make_result("cam", 0))
        await sink.flush(10)
        await sink.close()
    finally:
        await runner.cleanup()
    assert seen[0]["X-Vigil-Signature"].startswith("sha256=") and "webhook-signature" not in seen[0]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("s3cret", "needs a secret of the form whsec_<base64>"),
        ("whsec_not*base64!", "is not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "holds 5 bytes"),
    ],
)
async def test_a_standard_secret_that_is_not_whsec_is_refused_by_run_and_check(tmp_path, nudenet_path, secret, message):
    text = entry(tmp_path, "http://127.0.0.1:9/hook", "standard", secret)
    with pytest.raises(ConfigError, match="whsec_") as info:
        await build_sink(parse_config(text, "hook.yaml", {}).sinks[0])
    assert message in str(info.value) and secret not in str(info.value)
    path = tmp_path / "hook.yaml"
    path.write_text(text.replace("unused.onnx", str(nudenet_path)))
    with pytest.raises(ConfigError, match="sinks") as checked:
        check_config(path, {"STATE_DIRECTORY": str(tmp_path)})
    assert message in str(checked.value) and "line 4" in str(checked.value)


def test_standard_signing_without_a_secret_file_is_refused(tmp_path):
    text = (
        "model: {path: unused.onnx}\nsources: [{name: cam, url: cam.mp4}]\nsinks:\n"
        "  - {kind: webhook, url: 'http://127.0.0.1:9/hook', signing: standard}\n"
    )
    with pytest.raises(ConfigError, match="signing: standard needs secret_file"):
        parse_config(text, "hook.yaml", {})
