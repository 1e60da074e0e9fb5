"""Webhook sink throughput and spool cost.

1. Results per second from `publish` to acknowledged by a local aiohttp receiver (its own
   process), batched (up to 50 results a request) vs one result per request.
2. Microseconds per result for each fsync policy: `Spool.append` alone, and
   `WebhookSink.publish` (JSON encoding + the hop to the spool thread + append).

    python bench/sinks.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import socket
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from aiohttp import web

from vigil import Frame
from vigil.engine import Detections
from vigil.result import InferenceResult, Timings
from vigil.sinks import WebhookOptions, WebhookSink
from vigil.sinks.records import result_to_record
from vigil.sinks.spool import FsyncPolicy, Spool, SpoolOptions

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
IMAGE = np.zeros((480, 640, 3), np.uint8)


def typical_result(seq: int) -> InferenceResult:
    """A frame with three detections: the size of a typical record (~600 bytes of JSON)."""
    dets = Detections(
        xyxy=np.array([[10.5, 20.25, 130.0, 240.75], [200, 40, 320, 200], [400, 300, 520, 470]], np.float32),
        confidence=np.array([0.91, 0.67, 0.42], np.float32),
        class_id=np.array([1, 3, 3], np.int64),
        data={"class_name": np.array(["FACE_FEMALE", "BELLY_EXPOSED", "BELLY_EXPOSED"])},
    )
    frame = Frame(f"cam{seq % 4}", seq // 4, seq / 30, T0 + timedelta(seconds=seq / 30), IMAGE)
    return InferenceResult(frame, "320n", dets, Timings(3.1, 4.2, 88.3, 1.5, 104.7))


def serve(port: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    """The receiver: parses every body, as a real one would, and answers 200."""

    async def handle(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.Response(status=200)

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def throughput(url: str, spool_dir: Path, results: list[InferenceResult], batch_max: int) -> tuple[float, float]:
    """(results/s end to end, results/s of publish alone)."""
    sink = WebhookSink(url, spool_dir, options=WebhookOptions(batch_max=batch_max))
    await sink.start()
    t0 = time.perf_counter()
    for result in results:
        await sink.publish(result)
    published = time.perf_counter() - t0
    await sink.flush(timeout=600)
    elapsed = time.perf_counter() - t0
    assert sink.delivered == len(results), (sink.delivered, sink.backlog)
    await sink.close()
    return len(results) / elapsed, len(results) / published


def append_us(directory: Path, policy: FsyncPolicy, payload: bytes, n: int) -> float:
    with Spool(directory, SpoolOptions(fsync=policy)) as spool:
        t0 = time.perf_counter()
        for _ in range(n):
            spool.append(payload)
        return (time.perf_counter() - t0) / n * 1e6


async def publish_us(directory: Path, policy: FsyncPolicy, results: list[InferenceResult]) -> float:
    # Nobody listens on the URL: the sender only retries now and then, publish is measured.
    url = f"http://127.0.0.1:{free_port()}/hook"
    sink = WebhookSink(url, directory, options=WebhookOptions(spool=SpoolOptions(fsync=policy), close_grace_s=0))
    await sink.start()
    t0 = time.perf_counter()
    for result in results:
        await sink.publish(result)
    elapsed = time.perf_counter() - t0
    await sink.close()
    return elapsed / len(results) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=5000, help="results per throughput run")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is printed")
    parser.add_argument("--dir", default=None, help="where the spools go (default: the temp directory)")
    args = parser.parse_args()
    # The publish runs have no receiver on purpose: their retry warnings are expected.
    logging.getLogger("vigil.sinks").setLevel(logging.ERROR)
    results = [typical_result(i) for i in range(args.results)]
    payload = json.dumps(result_to_record(results[0]), separators=(",", ":")).encode()
    port = free_port()
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=serve, args=(port, ready), daemon=True)
    receiver.start()
    ready.wait(10)
    url = f"http://127.0.0.1:{port}/hook"
    try:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            root = Path(tmp)
            print(f"spool in {root} ({len(payload)}-byte records); receiver in its own process")
            for batch_max in (50, 1):
                runs = [
                    asyncio.run(throughput(url, root / f"tp-{batch_max}-{i}", results, batch_max)) for i in range(args.runs)
                ]
                e2e = statistics.median(r[0] for r in runs)
                pub = statistics.median(r[1] for r in runs)
                label = "batched (<=50/request)" if batch_max > 1 else "one result per request"
                print(f"webhook {label:24s}: {e2e:8.0f} results/s delivered, publish alone {pub:8.0f} results/s")
            for policy in FsyncPolicy:
                n = 300 if policy is FsyncPolicy.ALWAYS else 20_000
                spool = statistics.median(append_us(root / f"ap-{policy.value}-{i}", policy, payload, n) for i in range(args.runs))
                few = results[: min(len(results), 300 if policy is FsyncPolicy.ALWAYS else 3000)]
                pub = statistics.median(
                    asyncio.run(publish_us(root / f"pub-{policy.value}-{i}", policy, few)) for i in range(args.runs)
                )
                print(f"fsync={policy.value:8s}: Spool.append {spool:8.1f} us/result, WebhookSink.publish {pub:8.1f} us/result")
    finally:
        receiver.terminate()
        receiver.join(5)


if __name__ == "__main__":
    main()
