"""Webhook sink throughput and spool cost.

1. Results per second from `publish` to acknowledged by a local aiohttp receiver (its own
   process), batched (up to 50 results a request) vs one result per request.
2. Microseconds per result for each fsync policy: `Spool.append` alone, and
   `WebhookSink.publish` (JSON encoding + the hop to the spool thread + append).

With `--video` instead: frames per second the annotated video sink draws and encodes on its
worker thread (640x480, a slow pan over a photo, three detections a frame), with and without
drawing, and milliseconds per frame of drawing alone.

    python bench/sinks.py
    python bench/sinks.py --video
    python bench/sinks.py --mqtt    # events/s to a local mosquitto, publish -> subscriber latency
    python bench/sinks.py --nats    # events/s to a local JetStream, publish -> PubAck latency
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

import cv2
import numpy as np
from aiohttp import web

from vigil import Frame
from vigil.engine import Detections
from vigil.events import Event
from vigil.result import InferenceResult, Timings
from vigil.sinks import AnnotatedVideoSink, WebhookOptions, WebhookSink
from vigil.sinks._annotate import Annotator
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


def panning_photo(frames: int) -> np.ndarray:
    """A photo wide enough to pan 2 px a frame over `frames` 640x480 frames: the encoder sees
    motion and detail, as from a camera (black frames would encode several times faster)."""
    import skimage.data

    photo = np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])
    return cv2.resize(photo, (640 + 2 * frames, 480), interpolation=cv2.INTER_AREA)


async def video_fps(directory: Path, base: np.ndarray, frames: int, annotate: bool) -> float:
    """Frames/s from the first publish to the last segment closed. Frames are published one
    queue at a time with a flush in between, so none is dropped and the thread never waits long."""
    sink = AnnotatedVideoSink(directory, annotate=annotate)
    await sink.start()
    template = typical_result(0)
    t0 = time.perf_counter()
    for i in range(frames):
        image = np.ascontiguousarray(base[:, 2 * i : 2 * i + 640])
        frame = Frame("cam0", i, i / 30, T0 + timedelta(seconds=i / 30), image)
        await sink.publish(InferenceResult(frame, "320n", template.detections, template.timings))
        if (i + 1) % 32 == 0:
            await sink.flush()
    await sink.close()
    elapsed = time.perf_counter() - t0
    assert sink.written == frames and sink.dropped == 0, (sink.written, sink.dropped)
    return frames / elapsed


def draw_ms(base: np.ndarray, n: int = 200) -> float:
    annotator, dets = Annotator("bench"), typical_result(0).detections
    image = np.ascontiguousarray(base[:, :640])
    t0 = time.perf_counter()
    for _ in range(n):
        annotator.draw(image, dets)
    return (time.perf_counter() - t0) / n * 1e3


def bench_video(frames: int, runs: int, directory: str | None) -> None:
    base = panning_photo(frames)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        for annotate in (True, False):
            fps = statistics.median(
                asyncio.run(video_fps(Path(tmp) / f"{annotate}-{i}", base, frames, annotate)) for i in range(runs)
            )
            label = "drawn + encoded" if annotate else "encoded only"
            print(f"video sink 640x480 {label:16s}: {fps:7.1f} frames/s (libx264 veryfast, crf 23)")
    print(f"drawing alone (3 boxes + labels)   : {draw_ms(base):7.2f} ms/frame")


def mqtt_event(camera: str, n: int) -> Event:
    return Event(
        type="zone_enter",
        source=camera,
        tracker_id=n,
        class_name="person",
        class_id=0,
        capture_time=T0 + timedelta(seconds=n / 30),
        seq=n,
        confidence=0.9,
        zone="door",
        box=(10.0, 20.0, 50.0, 90.0),
    )


async def mqtt_run(port: int, spool: Path, events: int, rate: float | None) -> tuple[float, list[float]]:
    """Events/s from the first publish to the broker's last PUBACK (rate None: as fast as
    publish takes them), and each event's milliseconds from `publish_event` to a subscriber
    that got it from the broker (the broker forwards before it acknowledges)."""
    import aiomqtt

    from vigil.config.sinks import MqttSinkConfig
    from vigil.sinks.mqtt import MqttSink, mqtt_options

    sent: dict[str, float] = {}
    latencies: list[float] = []
    config = MqttSinkConfig(host="127.0.0.1", port=port, client_id="bench", discovery=False, spool_dir=str(spool))
    sink = MqttSink(mqtt_options(config, None), spool, name="bench")  # the options a YAML entry gets
    async with aiomqtt.Client("127.0.0.1", port) as sub:
        await sub.subscribe("vigil/+/events")

        async def receive() -> None:
            async for message in sub.messages:
                record = json.loads(bytes(message.payload))
                if record["id"] in sent:
                    latencies.append((time.perf_counter() - sent.pop(record["id"])) * 1000)

        receiver = asyncio.create_task(receive())
        await sink.start()
        await sink.publish_event(mqtt_event("warm-up", 0))  # the first connection is not measured
        await sink.flush(10)
        batch = [mqtt_event(f"cam{n % 4}", n) for n in range(events)]
        start = time.perf_counter()
        for e in batch:
            sent[e.event_id] = time.perf_counter()
            await sink.publish_event(e)
            if rate is not None:
                await asyncio.sleep(1 / rate)
        await sink.flush(120)
        elapsed = time.perf_counter() - start
        await asyncio.sleep(0.2)
        receiver.cancel()
        await sink.close()
    return events / elapsed, latencies


def bench_mqtt(events: int, runs: int, directory: str | None) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the broker helper
    from tests.support.mosquitto import Mosquitto

    logging.getLogger("vigil.sinks").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        try:
            rates = [asyncio.run(mqtt_run(broker.port, Path(tmp) / f"flood-{i}", events, None))[0] for i in range(runs)]
            rate = statistics.median(rates)
            print(f"mqtt (local mosquitto, QoS 1, 4 cameras): {rate:8.0f} events/s published and acknowledged")
            _, lat = asyncio.run(mqtt_run(broker.port, Path(tmp) / "paced", min(events, 2000), 200.0))
            q = statistics.quantiles(lat, n=100)
            print(f"mqtt at 200 events/s: publish_event -> subscriber p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms ({len(lat)} events)")
        finally:
            broker.stop()


async def nats_run(url: str, spool: Path, events: int, rate: float | None) -> tuple[float, list[float]]:
    """Events/s from the first publish to the last PubAck (rate None: as fast as publish takes
    them), and each event's milliseconds from `publish_event` to its PubAck."""
    from vigil.sinks.nats import NatsOptions, NatsSink

    sent: dict[str, float] = {}
    latencies: list[float] = []

    class Timed(NatsSink):
        async def _publish(self, subject: str, payload: bytes, msg_id: str):  # type: ignore[no-untyped-def]
            reply = await super()._publish(subject, payload, msg_id)
            if reply is None and msg_id in sent:
                latencies.append((time.perf_counter() - sent.pop(msg_id)) * 1000)
            return reply

    sink = Timed(NatsOptions((url,)), spool, name="bench")
    await sink.start()
    await sink.publish_event(mqtt_event("warm-up", 0))  # the first connection and the stream are not measured
    await sink.flush(10)
    batch = [mqtt_event(f"cam{n % 4}", n) for n in range(events)]
    start = time.perf_counter()
    for e in batch:
        sent[e.event_id] = time.perf_counter()
        await sink.publish_event(e)
        if rate is not None:
            await asyncio.sleep(1 / rate)
    await sink.flush(120)
    elapsed = time.perf_counter() - start
    await sink.close()
    return events / elapsed, latencies


def bench_nats(events: int, runs: int, directory: str | None) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the server helper
    from tests.support.nats_server import NatsServer, wait_for_jetstream

    logging.getLogger("vigil.sinks").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        server = NatsServer(Path(tmp) / "nats").start()
        try:
            asyncio.run(wait_for_jetstream([server.url]))
            floods = [asyncio.run(nats_run(server.url, Path(tmp) / f"flood-{i}", events, None)) for i in range(runs)]
            print(
                f"nats (local JetStream, file storage, 4 cameras): {statistics.median(r for r, _ in floods):8.0f} "
                "events/s published and acknowledged"
            )
            lat = floods[-1][1]
            q = statistics.quantiles(lat, n=100)
            print(f"nats flood: publish_event -> PubAck p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms (queueing included)")
            _, lat = asyncio.run(nats_run(server.url, Path(tmp) / "paced", min(events, 2000), 200.0))
            q = statistics.quantiles(lat, n=100)
            print(f"nats at 200 events/s: publish_event -> PubAck p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms ({len(lat)} events)")
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=int, default=5000, help="results per throughput run")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is printed")
    parser.add_argument("--dir", default=None, help="where the spools go (default: the temp directory)")
    parser.add_argument("--video", action="store_true", help="measure the annotated video sink instead")
    parser.add_argument("--frames", type=int, default=600, help="frames per video run")
    parser.add_argument("--mqtt", action="store_true", help="measure the MQTT sink against a local mosquitto instead")
    parser.add_argument("--nats", action="store_true", help="measure the NATS sink against a local JetStream instead")
    args = parser.parse_args()
    if args.video:
        bench_video(args.frames, args.runs, args.dir)
        return
    if args.mqtt:
        bench_mqtt(args.results, args.runs, args.dir)
        return
    if args.nats:
        bench_nats(args.results, args.runs, args.dir)
        return
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
                runs = [asyncio.run(throughput(url, root / f"tp-{batch_max}-{i}", results, batch_max)) for i in range(args.runs)]
                e2e = statistics.median(r[0] for r in runs)
                pub = statistics.median(r[1] for r in runs)
                label = "batched (<=50/request)" if batch_max > 1 else "one result per request"
                print(f"webhook {label:24s}: {e2e:8.0f} results/s delivered, publish alone {pub:8.0f} results/s")
            for policy in FsyncPolicy:
                n = 300 if policy is FsyncPolicy.ALWAYS else 20_000
                spool = statistics.median(
                    append_us(root / f"ap-{policy.value}-{i}", policy, payload, n) for i in range(args.runs)
                )
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
