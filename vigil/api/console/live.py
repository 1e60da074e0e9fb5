"""The cameras' live view: the latest annotated frame of each source, as JPEG, encoded only
while someone watches.

The pipeline hands each published result to `LiveView.published` on the event loop, which keeps
a reference to the newest one per source and wakes that source's encoders: nothing is copied or
encoded there, so the pipeline never waits for a viewer. One encoder task per (source, width)
runs while it has viewers; it encodes the newest result at most `fps` times a second, on the
view's own thread (never the loop, never the pipeline's workers), and puts each JPEG in every
viewer's one-slot mailbox: a slow viewer gets the newest frame, never a queue of old ones.

    live = LiveView(fps=5.0, max_width=1280, quality=75)
    pipeline = Pipeline(model, sources, sinks, options, Observers(metrics, live))
    add_live_routes(app, live, has_stream=lambda name: name in names)  # live_routes.py
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING

import cv2
import numpy as np

from vigil.engine import Detections, TextDetections
from vigil.errors import MissingDependencyError
from vigil.pipeline.observer import PipelineObserver
from vigil.result import InferenceResult, Overlay, Predictions

if TYPE_CHECKING:
    from vigil.sinks import Annotator

__all__ = ["MIN_WIDTH", "LiveView", "Subscription"]

log = logging.getLogger(__name__)

MIN_WIDTH = 16


class _Mailbox:
    """One viewer's slot: only the newest JPEG waits in it; `None` from `get` means the end."""

    __slots__ = ("_item", "_ready", "closed")

    def __init__(self, first: bytes | None) -> None:
        self._item, self._ready, self.closed = first, asyncio.Event(), False
        if first is not None:
            self._ready.set()

    def put(self, jpeg: bytes) -> None:
        self._item = jpeg
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def get(self) -> bytes | None:
        await self._ready.wait()
        self._ready.clear()
        if self.closed:
            return None
        item, self._item = self._item, None
        return item


class _Encoder:
    """Encodes one source at one width for its viewers; runs only while it has some."""

    def __init__(self, view: LiveView, source_id: str, width: int | None) -> None:
        self.view, self.source_id, self.width = view, source_id, width
        self.viewers: set[_Mailbox] = set()
        self.wake = asyncio.Event()
        self.last: bytes | None = None
        if source_id in view._latest:  # a first viewer sees a picture at once
            self.wake.set()
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"vigil-live-{source_id}-{width}")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        done, next_at, failures = -1, 0.0, 0
        while True:
            await self.wake.wait()
            self.wake.clear()
            if (delay := next_at - loop.time()) > 0:  # at most `fps` encodes a second
                await asyncio.sleep(delay)
            version, result = self.view._versions.get(self.source_id, 0), self.view._latest.get(self.source_id)
            if result is None or version == done:
                continue
            done, next_at = version, loop.time() + 1.0 / self.view.fps
            try:
                jpeg = await self.view._encode(result, self.width, annotate=True)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not end the stream
                failures += 1
                (log.warning if failures == 1 else log.debug)(
                    "live view of '%s': a frame failed to encode: %s", self.source_id, exc
                )
                continue
            self.last = jpeg
            for box in self.viewers:
                box.put(jpeg)

    def close(self) -> None:
        self.task.cancel()
        for box in self.viewers:
            box.close()
        self.viewers.clear()


class Subscription:
    """One viewer of a source: an async iterator of JPEGs that ends when the source is
    forgotten or the view closes. Leave with `close()` (or use it as an async context manager)."""

    def __init__(self, view: LiveView, encoder: _Encoder) -> None:
        self._view, self._encoder = view, encoder
        self._box = _Mailbox(encoder.last)
        encoder.viewers.add(self._box)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> bytes:
        jpeg = await self._box.get()
        if jpeg is None:
            self.close()
            raise StopAsyncIteration
        return jpeg

    def close(self) -> None:
        """Leave; the encoder stops with its last viewer."""
        self._box.close()
        self._view._leave(self._encoder, self._box)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class LiveView(PipelineObserver):
    """The latest frame of each source, as JPEG for viewers; a `PipelineObserver` (`published`)."""

    def __init__(self, fps: float = 5.0, max_width: int = 1280, quality: int = 75) -> None:
        if fps <= 0 or max_width < MIN_WIDTH or not 1 <= quality <= 100:
            raise ValueError(
                f"LiveView needs fps > 0, max_width >= {MIN_WIDTH} and quality in 1..100 "
                f"(got fps={fps}, max_width={max_width}, quality={quality})"
            )
        self.fps, self.max_width, self.quality = fps, max_width, quality
        self._latest: dict[str, InferenceResult] = {}
        # Removed streams: their last results, inferred after the removal, must not be kept (the
        # soak found each removed stream's last frame held here for good); `track` takes a name back.
        self._gone: set[str] = set()
        self._versions: dict[str, int] = {}
        self._encoders: dict[str, dict[int | None, _Encoder]] = {}
        self._encoded: Counter[str] = Counter()
        self._executor: ThreadPoolExecutor | None = None
        self._annotator: Annotator | None = None
        self._annotator_tried = False
        self.encode_cpu_s = 0.0  # CPU seconds the encode thread spent (the benchmark reads it)

    # PipelineObserver: on the event loop, O(1).

    def published(self, result: InferenceResult) -> None:
        source = result.frame.source_id
        if source in self._gone:
            return
        self._latest[source] = result
        self._versions[source] = self._versions.get(source, 0) + 1
        encoders = self._encoders.get(source)
        if encoders:
            for encoder in encoders.values():
                encoder.wake.set()

    def forget(self, source_id: str) -> None:
        """A stream was removed: its frame goes and its viewers' streams end; results of it that
        are published later (frames it had read) are not kept."""
        self._gone.add(source_id)
        self._latest.pop(source_id, None)
        self._versions.pop(source_id, None)
        self._encoded.pop(source_id, None)
        for encoder in self._encoders.pop(source_id, {}).values():
            encoder.close()

    def track(self, source_id: str) -> None:
        """A stream is added (again) under this name: its results are kept."""
        self._gone.discard(source_id)

    def frame_size(self, source_id: str) -> tuple[int, int] | None:
        """(width, height) of the source's latest frame, None before its first."""
        result = self._latest.get(source_id)
        if result is None:
            return None
        height, width = result.frame.image.shape[:2]
        return width, height

    async def snapshot(self, source_id: str, width: int | None = None, annotate: bool = True) -> bytes | None:
        """One JPEG of the latest frame (None: no frame yet), encoded on the view's thread."""
        result = self._latest.get(source_id)
        if result is None:
            return None
        return await self._encode(result, self._check_width(width), annotate)

    def subscribe(self, source_id: str, width: int | None = None) -> Subscription:
        """A viewer of `source_id` at `width` (None: the frame's own, up to `max_width`); call from
        the event loop. Viewers of one (source, width) share one encoder.

            async with live.subscribe("cam1", 480) as frames:
                async for jpeg in frames: ...
        """
        width = self._check_width(width)
        encoders = self._encoders.setdefault(source_id, {})
        encoder = encoders.get(width)
        if encoder is None:
            encoder = encoders[width] = _Encoder(self, source_id, width)
        return Subscription(self, encoder)

    def stats(self, source_id: str) -> dict[str, int]:
        """Viewers now and frames encoded so far for one source."""
        viewers = sum(len(e.viewers) for e in self._encoders.get(source_id, {}).values())
        return {"viewers": viewers, "encoded": self._encoded[source_id]}

    def all_stats(self) -> dict[str, dict[str, int]]:
        """`stats` of every source with a frame, a viewer or an encode."""
        names = set(self._latest) | set(self._encoders) | set(self._encoded)
        return {name: self.stats(name) for name in sorted(names)}

    def totals(self) -> dict[str, int]:
        every = self.all_stats().values()
        return {"viewers": sum(s["viewers"] for s in every), "encoded": sum(s["encoded"] for s in every)}

    def close(self) -> None:
        """End every stream and stop the encode thread (an encode under way finishes on its own)."""
        for source in list(self._encoders):
            for encoder in self._encoders.pop(source).values():
                encoder.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _leave(self, encoder: _Encoder, box: _Mailbox) -> None:
        encoder.viewers.discard(box)
        if encoder.viewers:
            return
        encoder.close()
        encoders = self._encoders.get(encoder.source_id, {})
        if encoders.get(encoder.width) is encoder:
            del encoders[encoder.width]
            if not encoders:
                del self._encoders[encoder.source_id]

    def _check_width(self, width: int | None) -> int | None:
        if width is not None and not MIN_WIDTH <= width <= self.max_width:
            raise ValueError(f"width must be from {MIN_WIDTH} to {self.max_width} pixels, got {width}")
        return width

    async def _encode(self, result: InferenceResult, width: int | None, annotate: bool) -> bytes:
        if self._executor is None:  # its own thread, so live encodes never take the pipeline's workers
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="vigil-live")
        jpeg = await asyncio.get_running_loop().run_in_executor(self._executor, self._render, result, width, annotate)
        self._encoded[result.frame.source_id] += 1
        return jpeg

    def _render(self, result: InferenceResult, width: int | None, annotate: bool) -> bytes:
        """On the encode thread: resize, then draw (cheaper on the smaller picture, and the labels
        keep their size whatever the width), then JPEG."""
        started = time.thread_time()
        image = result.frame.image
        height, frame_width = image.shape[:2]
        # Never wider than the frame: upscaling costs CPU and bandwidth and shows nothing more.
        target = min(width or frame_width, frame_width, self.max_width)
        scale = target / frame_width
        size = (target, max(1, round(height * scale)))
        if scale != 1.0:  # INTER_AREA only where it matters: at other ratios it is ~5x slower
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA)
        annotator = self._annotator_here() if annotate else None
        if annotator is not None:  # draws on a copy: the frame itself is shared with the sinks
            image = annotator.draw(image, _scaled(result.detections, scale, size), _scaled_overlays(result.overlays, scale))
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError(f"OpenCV could not encode a {size[0]}x{size[1]} frame as JPEG")
        self.encode_cpu_s += time.thread_time() - started
        return buffer.tobytes()

    def _annotator_here(self) -> Annotator | None:
        """The Annotator, made on first use on the encode thread (importing supervision is slow)."""
        if not self._annotator_tried:
            self._annotator_tried = True
            from vigil.sinks import Annotator

            try:
                self._annotator = Annotator("live view")
            except MissingDependencyError as exc:
                log.warning("the live view shows frames without detections drawn: %s", exc)
        return self._annotator


def _scaled(dets: Predictions, scale: float, size: tuple[int, int]) -> Predictions:
    """Predictions in the resized frame's pixels."""
    if isinstance(dets, TextDetections):
        return dets if scale == 1.0 else replace(dets, quads=dets.quads * scale)
    if not isinstance(dets, Detections) or len(dets) == 0:
        return dets
    changes: dict[str, object] = {}
    if scale != 1.0:
        changes["xyxy"] = dets.xyxy * scale
        if dets.keypoints is not None:
            changes["keypoints"] = dets.keypoints * scale
        if dets.mask is not None:
            changes["mask"] = np.stack(
                [cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) for m in dets.mask]
            ).astype(bool)
    return replace(dets, **changes) if changes else dets  # type: ignore[arg-type]


def _scaled_overlays(overlays: tuple[Overlay, ...], scale: float) -> tuple[Overlay, ...]:
    if scale == 1.0:
        return overlays
    return tuple(replace(o, points=tuple((x * scale, y * scale) for x, y in o.points)) for o in overlays)
