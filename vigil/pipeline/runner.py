"""`Pipeline`: sources -> each model's lane (batcher -> pre-process -> infer) -> post-process ->
stage chains (`chain`) -> sinks.

A pipeline runs one model or several (`lane.ModelLane`: each its own batcher, batch size and
inference thread); a source feeds the lanes of the models it runs, and the first of them is its
primary, whose results go through the source's stage chain (the others' go straight to the
sinks). Stages are asyncio tasks joined by bounded queues; CPU work runs on executors (pre- and
post-processing on a small worker pool shared by the lanes, inference on each model's own
single-thread executor), so batch k+1 is pre-processed while batch k is inferred and batch k-1
published. The pipeline owns every task and executor it creates and stops them in reverse order
of creation; after `request_stop()` what is in flight drains within `drain_timeout_s` or is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from typing import Any

from vigil.errors import PipelineError, SourceError, SourceOpenError
from vigil.events import Event
from vigil.pipeline._job import Job
from vigil.pipeline._tasks import feed, gather_or_cancel, watch_loop_lag
from vigil.pipeline.chain import StageChain, StageChains
from vigil.pipeline.fanout import Fanout, Outlet
from vigil.pipeline.lane import DEFAULT_MODEL, ModelLane
from vigil.pipeline.observer import PipelineObserver
from vigil.pipeline.options import FrameModel, PipelineOptions
from vigil.pipeline.report import PipelineReport, SourceReport
from vigil.pipeline.snapshot import PipelineSnapshot, take_snapshot
from vigil.sinks.base import Sink
from vigil.sources.base import Source
from vigil.stages.base import Stage

__all__ = ["FrameModel", "Pipeline", "PipelineOptions", "PipelineReport", "SourceReport"]

log = logging.getLogger(__name__)


class Pipeline:
    """Runs a model (or several, by name) over frames from `sources` and publishes every result
    to every sink.

        report = await Pipeline(model, [FileSource("a", "a.mp4")], [JsonlSink("out.jsonl")]).run()
        Pipeline({"people": detector, "scene": classifier}, sources, sinks,
                 source_models={"door": ["people", "scene"], "yard": ["people"]},
                 model_options={"scene": PipelineOptions(max_batch=8)})

    `source_models` names the models a source runs (default: the first model), its primary
    first; `model_options` a model's own batch settings (default: `options`).
    """

    def __init__(
        self,
        model: FrameModel | Mapping[str, FrameModel],
        sources: Sequence[Source],
        sinks: Sequence[Sink | Outlet],
        options: PipelineOptions | None = None,
        observer: PipelineObserver | None = None,
        stages: Mapping[str, Sequence[Stage]] | None = None,
        *,
        source_models: Mapping[str, Sequence[str]] | None = None,
        model_options: Mapping[str, PipelineOptions] | None = None,
    ) -> None:
        ids = [s.source_id for s in sources]
        if len(set(ids)) != len(ids):
            raise PipelineError(f"source ids must be unique in a pipeline, got {ids}; give each source its own name")
        models = dict(model) if isinstance(model, Mapping) else {DEFAULT_MODEL: model}
        if not models:
            raise PipelineError("a pipeline needs at least one model")
        self.sources = list(sources)
        self.fanout = Fanout(sinks)
        self.chains = StageChains()  # each source's stages, between the model and the fanout
        for source_id, source_stages in (stages or {}).items():
            self.chains.set(source_id, source_stages)
        self.options = options = options or PipelineOptions()
        self.observer = observer or PipelineObserver()
        self.report = PipelineReport(sources={i: SourceReport(i) for i in ids})
        self.lanes = {name: self._lane(name, m, (model_options or {}).get(name, options)) for name, m in models.items()}
        self._source_models: dict[str, tuple[str, ...]] = {}
        for source in self.sources:
            self._source_models[source.source_id] = self._model_names(
                source.source_id, (source_models or {}).get(source.source_id)
            )
        self._live = {s.source_id: s.live for s in self.sources}
        self._feeds: dict[str, asyncio.Task[None]] = {}
        self._started = False
        self.running = asyncio.Event()  # set once the sources are started and the stages run
        self._stop_requested = False
        # time.monotonic() of the first frame in, the last result out and the stop request
        self._first_frame_at: float | None = None
        self._last_result_at: float | None = None
        self._stop_requested_at: float | None = None
        self._stopping: list[asyncio.Future[None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._drain_timer: asyncio.TimerHandle | None = None

    def _lane(self, name: str, model: FrameModel, options: PipelineOptions) -> ModelLane:
        lane = ModelLane(name, model, options, ended=partial(self._ended_chains, name), failed=self._batch_failed)
        lane.batcher.on_drop = self.observer.frames_dropped
        return lane

    def _model_names(self, source_id: str, names: Sequence[str] | None) -> tuple[str, ...]:
        if not names:
            return (next(iter(self.lanes)),)
        unknown = [n for n in names if n not in self.lanes]
        if unknown:
            raise PipelineError(
                f"source '{source_id}' runs model {', '.join(map(repr, unknown))}, which this pipeline does "
                f"not have (models: {', '.join(self.lanes)})"
            )
        return tuple(dict.fromkeys(names))

    def _ended_chains(self, lane: str, source_ids: Sequence[str]) -> list[StageChain]:
        """The chains to close behind a batch of `lane`: those of ended sources whose primary it is."""
        return [
            chain
            for s in source_ids
            if self._source_models.get(s, (None,))[0] == lane and (chain := self.chains.current(s)) is not None
        ]

    @property
    def model(self) -> FrameModel:
        """The first model (the only one of a one-model pipeline)."""
        return next(iter(self.lanes.values())).model

    @property
    def models(self) -> dict[str, FrameModel]:
        """Each model in use by name."""
        return {name: lane.model for name, lane in self.lanes.items()}

    @property
    def batch_size(self) -> int:
        """The first model's batch size."""
        return next(iter(self.lanes.values())).batch_size

    def models_of(self, source_id: str) -> tuple[str, ...]:
        """The models `source_id` runs, its primary first."""
        return self._source_models[source_id]

    @property
    def sinks(self) -> list[Sink]:
        return self.fanout.sinks

    @property
    def routes(self) -> dict[str, frozenset[str]]:
        """Source id -> the sinks it publishes to (absent: all of them)."""
        return self.fanout.routes

    @routes.setter
    def routes(self, routes: dict[str, frozenset[str]]) -> None:
        self.fanout.routes = routes

    def snapshot(self) -> PipelineSnapshot:
        """Gauges for metrics: frames waiting in each source's hand-off and batcher lane, batches
        waiting between stages, and each source's state and decode-side counters."""
        return take_snapshot(self.sources, list(self.lanes.values()))

    async def add_source(self, source: Source, stages: Sequence[Stage] = (), models: Sequence[str] | None = None) -> None:
        """Start reading `source` (before or during `run()`; during it only with `keep_running`), its
        frames going to `models` (names; default: the first model) and its primary model's
        results through `stages` (made for it, in order) before the sinks.
        Raises `SourceOpenError` when it cannot be opened, recorded in the report as well, and
        `PipelineError` when the id is taken, a model is unknown or the pipeline takes no new sources."""
        if any(s.source_id == source.source_id for s in self.sources):
            raise PipelineError(
                f"source '{source.source_id}' already exists in this pipeline; remove it first or use another name"
            )
        self._source_models[source.source_id] = self._model_names(source.source_id, models)
        self.sources.append(source)
        self.chains.set(source.source_id, stages)  # fresh state, replacing a removed source's of that id
        self._live[source.source_id] = source.live
        # A source added again under an id it had before adds to that id's history.
        self.report.sources.setdefault(source.source_id, SourceReport(source.source_id))
        if self._started:
            if self._stop_requested or not self.options.keep_running:
                self.sources.remove(source)
                why = "it is stopping" if self._stop_requested else "it runs without keep_running"
                raise PipelineError(f"source '{source.source_id}' not added: the pipeline takes no new sources ({why})")
            if await self._start_source(source):
                self._spawn_feed(source)
            else:
                self.sources.remove(source)
                raise SourceOpenError(self.report.sources[source.source_id].error or "cannot open")

    def replace_model(self, model: FrameModel, options: PipelineOptions | None = None, name: str | None = None) -> None:
        """Use `model` (and the batch settings of `options`) for the model `name` (default: the
        first) from its next batch on; the other models are untouched. Batches already formed
        finish on the old model, which is released once they are done."""
        lane = self.lanes.get(name or next(iter(self.lanes)))
        if lane is None:
            raise PipelineError(f"no model '{name}' in this pipeline (models: {', '.join(self.lanes)})")
        lane.replace(model, options or lane.options)
        if lane is next(iter(self.lanes.values())) and options is not None:
            self.options = replace(options, keep_running=self.options.keep_running)

    async def replace_stages(self, source_id: str, stages: Sequence[Stage]) -> None:
        """Give a running source new stages (fresh state: the zone editor's new zones) from its next
        batch on; the old chain finishes the batch it is in, then closes, and its closing records
        (object_end for the tracks it followed) go to the sinks."""
        if source_id not in self._source_models:
            raise PipelineError(f"no source '{source_id}' in this pipeline")
        old = self.chains.current(source_id)
        self.chains.set(source_id, stages)
        if old is not None:
            await old.idle()
            await self._publish_events(await asyncio.to_thread(old.close))

    async def replace_sinks(self, changes: Mapping[str, Sink | Outlet | None]) -> None:
        """Swap the sinks named in `changes` (their `sinks:` names) for new ones, adding new
        names; None removes that sink. Publishing waits meanwhile: each old sink writes (or spools) what it
        had queued and closes before its replacement starts, so a result goes to one or the
        other, never to a closed sink, and a sink reusing the old one's files finds them closed.
        A replacement that fails to start is logged and left out (the error names it)."""
        await self.fanout.replace(changes)

    async def remove_source(self, source_id: str) -> None:
        """Stop reading a source; its frames already read are still inferred and published."""
        source = next((s for s in self.sources if s.source_id == source_id), None)
        if source is None:
            raise KeyError(source_id)
        await source.stop()
        feed = self._feeds.pop(source_id, None)
        if feed is not None:
            await feed
        self.sources.remove(source)

    def request_stop(self) -> None:
        """Stop reading sources; frames already read are still inferred and published."""
        if self._stop_requested:
            return
        self._stop_requested = True
        self._stop_requested_at = self._stop_requested_at or time.monotonic()
        self._stopping = [asyncio.ensure_future(source.stop()) for source in self.sources]
        self._stopping += [asyncio.ensure_future(lane.batcher.close()) for lane in self.lanes.values()]
        if self._tasks:
            loop = asyncio.get_running_loop()
            self._drain_timer = loop.call_later(self.options.drain_timeout_s, self._drain_expired)

    def _drain_expired(self) -> None:
        pending = [task for task in self._tasks if not task.done()]
        if not pending:
            return
        self.report.drain_timed_out = True
        names = ", ".join(task.get_name() for task in pending)
        log.warning("stop: in-flight frames did not finish within %.1fs; cancelling %s", self.options.drain_timeout_s, names)
        for task in pending:
            task.cancel()

    async def run(self) -> PipelineReport:
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        async with AsyncExitStack() as stack:
            workers = ThreadPoolExecutor(self.options.worker_threads, thread_name_prefix="vigil-work")
            stack.callback(workers.shutdown, wait=False, cancel_futures=True)
            stack.push_async_callback(self.fanout.close)
            await self.fanout.start()
            stack.push_async_callback(self._stop_sources)
            await self._start_sources()
            lag = asyncio.create_task(watch_loop_lag(self.observer.loop_lag), name="loop-lag")
            stack.callback(lag.cancel)

            on_workers = partial(loop.run_in_executor, workers)
            tasks = []
            for name, lane in self.lanes.items():  # each model its own inference thread
                infer = ThreadPoolExecutor(1, thread_name_prefix=f"vigil-infer-{name}")
                stack.callback(infer.shutdown, wait=False, cancel_futures=True)
                prepare, run, inferred = lane.loops(on_workers, partial(loop.run_in_executor, infer))
                suffix = "" if len(self.lanes) == 1 else f"-{name}"
                tasks += [
                    asyncio.create_task(prepare, name=f"prepare{suffix}"),
                    asyncio.create_task(run, name=f"infer{suffix}"),
                    asyncio.create_task(self._publish(inferred, on_workers), name=f"publish{suffix}"),
                ]
            self._tasks = tasks
            self.running.set()
            if self._stop_requested:  # asked while sources were starting
                self._stop_requested = False
                self.request_stop()
            try:
                await gather_or_cancel(tasks)
            finally:
                stages_done = time.monotonic()
                if self._drain_timer is not None:
                    self._drain_timer.cancel()
                for feed in self._feeds.values():
                    feed.cancel()
                await asyncio.gather(*self._feeds.values(), return_exceptions=True)
            await self.fanout.flush()
        self.report.record_times(
            started, stages_done, time.monotonic(), self._first_frame_at, self._last_result_at, self._stop_requested_at
        )
        return self.report

    async def _start_sources(self) -> None:
        self._started = True
        started = await asyncio.gather(*(self._start_source(s) for s in self.sources))
        for source, ok in zip(list(self.sources), started):
            if ok:
                self._spawn_feed(source)
        if not any(started) and not self.options.keep_running:
            log.error("no source could be started; nothing to do")
        if not self.options.keep_running:
            for lane in self.lanes.values():
                await lane.batcher.close()  # the run ends when these sources have

    async def _start_source(self, source: Source) -> bool:
        try:
            await source.start()
        except SourceError as exc:
            log.error("%s", exc)
            self.report.sources[source.source_id].error = str(exc)
            return False
        if self._stop_requested:  # stopped while it was starting
            await source.stop()
            return False
        for name in self._source_models[source.source_id]:
            self.lanes[name].batcher.open_lane(source.source_id, live=source.live)
        report = self.report.sources[source.source_id]
        report.starts += 1
        report.error = None
        self.observer.source_started(source.source_id, source.expected_frames)
        return True

    def _spawn_feed(self, source: Source) -> None:
        name, batchers = source.source_id, [self.lanes[n].batcher for n in self._source_models[source.source_id]]
        work = feed(source, batchers, self.report.sources[name], self.observer, self._first_frame)
        self._feeds[name] = asyncio.create_task(work, name=f"feed-{name}")

    def _first_frame(self) -> None:
        self._first_frame_at = self._first_frame_at or time.monotonic()

    async def _stop_sources(self) -> None:
        for source in reversed(self.sources):
            await source.stop()

    async def _publish(self, inbox: asyncio.Queue[Job | None], offload: Callable[..., Awaitable[Any]]) -> None:
        while (job := await inbox.get()) is not None:
            await self._publish_one(job, offload)
            del job  # not held while waiting for the next: its frames, and an ended chain's stages

    async def _publish_one(self, job: Job, offload: Callable[..., Awaitable[Any]]) -> None:
        if job.items:
            await self._publish_job(job, offload)
        for chain in job.ended:  # after their last results: a tracker's object_end and the like
            await self._publish_events(await self.chains.close(chain, offload))

    async def _publish_job(self, job: Job, offload: Callable[..., Awaitable[Any]]) -> None:
        t0 = time.perf_counter()
        try:
            detections = await offload(job.model.post_process, job.raw, job.prepared)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the other frames
            self._batch_failed(job, exc)
            return
        post_ms = (time.perf_counter() - t0) * 1e3
        self.report.batches += 1
        size = len(job.items)
        self.observer.batch_done(size, max(size, job.model.batch.min), job.pre_ms, job.infer_ms, post_ms, model=job.lane)
        now, utc_now = time.monotonic(), datetime.now(timezone.utc)
        live = self._live
        results = [
            job.result(i, dets, post_ms, now, utc_now, live.get(i.frame.source_id, False))
            for i, dets in zip(job.items, detections)
        ]
        for result in results:
            self.observer.result(result)
            self.report.sources[result.frame.source_id].results += 1
        is_primary = [self._source_models.get(r.frame.source_id, (None,))[0] == job.lane for r in results]
        primary = [r for r, p in zip(results, is_primary) if p]
        for out in await self.chains.run(primary, offload):  # each source's stages, on the workers
            if out.result is not None:
                self.observer.published(out.result)
                await self.fanout.publish(out.result)
            if out.records:
                await self._publish_events(out.records)
        for result in (r for r, p in zip(results, is_primary) if not p):  # other models': straight to the sinks
            self.observer.published(result)
            await self.fanout.publish(result)
        self.report.sink_errors = self.fanout.errors
        self._last_result_at = time.monotonic()

    async def _publish_events(self, records: Sequence[object]) -> None:
        events = [r for r in records if isinstance(r, Event)]
        if events:
            self.observer.events(events)  # before the sinks: the event log and metrics see them first
        await self.fanout.publish_events(events)

    def _batch_failed(self, job: Job, exc: BaseException) -> None:
        self.report.failed_batches += 1
        self.observer.batch_failed(len(job.items), model=job.lane)
        frames = ", ".join(f"{i.frame.source_id}#{i.frame.seq}" for i in job.items)
        log.error("inference failed for frames %s: %s", frames, exc, exc_info=not isinstance(exc, Exception))
