"""The webhook sink after an outage, against real aiohttp receivers on 127.0.0.1: delivery resumes
within seconds of the receiver answering again, a late answer is resent under the same key, and
the spool cap set in the YAML or on the command line bounds the spool."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.sinks.test_webhook_sink import Answer, free_port, publish_all, receiver, two_sources  # noqa: F401
from tests.support.results import make_result
from vigil.config.loader import load_config
from vigil.config.sinks import WebhookSinkConfig
from vigil.daemon.assemble import make_outlet
from vigil.sinks import WebhookOptions, WebhookSink
from vigil.sinks.spool import FsyncPolicy, SpoolOptions
from vigil.sinks.webhook import webhook_options


async def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("outage", ["port closed", "503 from a gateway"])
async def test_delivery_resumes_within_seconds_of_the_receiver_answering_again(tmp_path, receiver, outage):
    """Down until five attempts in a row have failed: with the default backoff (0.5 s doubling,
    up to 30 s) the next wait is 4-8 s, and after a 90 s outage 15-30 s. Probing every second
    during such a wait, the sink delivers within about a second of the receiver coming back."""
    options = WebhookOptions(request_timeout_s=2.0, close_grace_s=0.5, spool=SpoolOptions(fsync=FsyncPolicy.NEVER))
    port = free_port()
    r = None
    if outage == "503 from a gateway":  # a proxy answering for a backend that is down, HEAD included
        r = await receiver(port=port)
        r.default, r.head_status = Answer(503), 503
    sink = WebhookSink(f"http://127.0.0.1:{port}/hook", tmp_path / "spool", options=options)
    await sink.start()
    try:
        await publish_all(sink, two_sources(3))
        await until(lambda: sink.retries >= 5, timeout=20)
        back = time.monotonic()
        if r is None:
            r = await receiver(port=port)
        else:
            r.default, r.head_status = Answer(200), 405
        await until(lambda: sink.delivered == 6, timeout=15)
    finally:
        await sink.close()
    first = next(s.at for s in r.seen if s.status == 200)
    assert first - back < 3.0, f"first delivery {first - back:.1f}s after the receiver came back"
    assert r.taken_by_source() == {"cam1": [0, 1, 2], "cam2": [0, 1, 2]}
    if outage == "503 from a gateway":
        assert any(status == 503 for _, status in r.probes)  # probed while down, and the probes said so


async def test_a_request_answered_too_late_is_sent_again_under_the_same_idempotency_key(tmp_path, receiver):
    """The receiver takes the request but answers after the sink stopped waiting: the resend is
    the same request under the same key, so a receiver deduplicating on it keeps one copy."""
    r = await receiver()
    r.script = [Answer(200, delay_s=1.0)]
    options = WebhookOptions(request_timeout_s=0.3, close_grace_s=0.5, spool=SpoolOptions(fsync=FsyncPolicy.NEVER))
    sink = WebhookSink(r.url, tmp_path / "spool", options=options)
    await sink.start()
    await publish_all(sink, [make_result("cam1", seq) for seq in range(3)])
    await sink.flush(timeout=10)
    await sink.close()

    by_key: dict[str, list[list[str]]] = {}
    for seen in r.seen:
        by_key.setdefault(seen.headers["Idempotency-Key"], []).append(seen.ids)
    resent = [bodies for bodies in by_key.values() if len(bodies) > 1]
    assert resent, "the late answer should have caused a resend"
    assert all(bodies[0] == body for bodies in resent for body in bodies)  # same key, same results
    deduplicated = [ids for bodies in by_key.values() for ids in bodies[:1]]
    assert sorted(i for ids in deduplicated for i in ids) == sorted({x["id"] for x in r.taken})
    assert sink.delivered == 3


def write_yaml(path: Path, url: str, spool: Path, **webhook: object) -> Path:
    extra = "".join(f"  {key}: {value}\n" for key, value in webhook.items())
    path.write_text(
        "model:\n  path: m.onnx\nsources:\n  - name: cam1\n    url: cam1.mp4\n"
        f"webhook:\n  url: {url}\n  spool_dir: {spool}\n{extra}"
    )
    return path


async def test_the_yaml_spool_cap_bounds_the_spool_and_a_full_spool_drops_its_oldest_results(tmp_path, receiver, caplog):
    port = free_port()  # the receiver is down while the spool fills
    spool = tmp_path / "spool"
    config = load_config(
        write_yaml(
            tmp_path / "vigil.yaml",
            f"http://127.0.0.1:{port}/hook",
            spool,
            spool_max_mb=16,
            retry_initial_s=0.05,
            retry_max_s=0.2,
            unhealthy_after_s=60,
        )
    )
    sink = (await make_outlet(config.sinks[0])).sink
    assert isinstance(sink, WebhookSink)
    assert sink.options.spool.max_bytes == 16 * 2**20 and sink.options.spool.segment_bytes == 2**20
    assert sink.options.backoff.initial_s == 0.05 and sink.options.backoff.max_s == 0.2

    await sink.start()
    # ~8 KB each (a request of 50 stays under 1 MiB, where aiohttp warns about large bodies)
    n = 2400
    big = [make_result("cam1", seq, class_ids=[0, 1, 2] * 30, confidences=[0.5] * 90) for seq in range(n)]
    with caplog.at_level(logging.WARNING):
        await publish_all(sink, big)
    on_disk = sum(p.stat().st_size for p in spool.glob("*.seg"))
    assert on_disk <= 16 * 2**20
    assert sink.dropped_records > 0 and sink.backlog == n - sink.dropped_records
    assert "reached its cap of 16777216 bytes" in caplog.text
    health = sink.health()
    assert not health.ok and "full (cap 16 MiB)" in (health.reason or "")

    r = await receiver(port=port)
    await sink.flush(timeout=30)
    dropped = sink.dropped_records
    assert sink.backlog == 0 and sink.health().ok
    await sink.close()
    seqs = r.taken_by_source()["cam1"]
    # The oldest were dropped, but for the request in flight when they were; the rest arrive in order.
    in_flight = next(i for i, seq in enumerate(seqs) if seq != i)
    assert seqs == list(range(in_flight)) + list(range(in_flight + dropped, n))


def test_spool_max_mb_on_the_command_line_reaches_the_spool():
    from vigil.cli.main import _parser, config_from_args

    args = _parser().parse_args(
        ["run", "--model", "m.onnx", "--source", "a.mp4", "--webhook", "https://h/x", "--spool-max-mb", "64"]
    )
    config = config_from_args(args)
    [hook] = config.sinks
    assert isinstance(hook, WebhookSinkConfig) and hook.name == "webhook" and hook.spool_max_mb == 64
    spool = webhook_options(hook, None).spool
    assert spool.max_bytes == 64 * 2**20 and spool.segment_bytes == 4 * 2**20
    default = config_from_args(
        _parser().parse_args(["run", "--model", "m.onnx", "--source", "a.mp4", "--webhook", "https://h/x"])
    )
    [hook] = default.sinks
    assert isinstance(hook, WebhookSinkConfig) and webhook_options(hook, None).spool.max_bytes == 512 * 2**20


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--webhook", "http://127.0.0.1:9/h", "--spool-max-mb", "1"],
            "webhook.spool_max_mb: Input should be greater than or equal to 2",
        ),
        (["--out", "r.jsonl", "--spool-max-mb", "64"], "--spool-max-mb go with --webhook URL"),
    ],
    ids=["below the minimum", "without --webhook"],
)
def test_a_bad_spool_max_mb_is_one_clear_error(tmp_path, flags, message):
    proc = subprocess.run(
        [sys.executable, "-m", "vigil", "run", "--model", "m.onnx", "--source", "a.mp4", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
