"""`ModelLane`: one model of a pipeline, with its own batcher sized to its package, its own
inference thread and the two tasks that form, pre-process and infer its batches.

A pipeline has a lane per model; a source feeds every lane of the models it runs, so a frame
is decoded once however many models use it. The pipeline's publish task of each lane turns the
lane's inferred batches into results.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any

from vigil.pipeline._job import Job
from vigil.pipeline.batcher import Batcher
from vigil.pipeline.chain import StageChain
from vigil.pipeline.options import FrameModel, PipelineOptions

__all__ = ["DEFAULT_MODEL", "ModelLane"]

DEFAULT_MODEL = "default"  # the name of a pipeline's model when it is given just one

Offload = Callable[..., Awaitable[Any]]


class ModelLane:
    """`name`'s model, batch settings (`options`: max_batch, max_delay_ms, max_staleness_ms)
    and batcher. `ended(source_ids)` gives the stage chains to close behind a batch (those of
    sources whose primary model this is); `failed(job, exc)` records a batch that failed."""

    def __init__(
        self,
        name: str,
        model: FrameModel,
        options: PipelineOptions,
        *,
        ended: Callable[[Sequence[str]], list[StageChain]],
        failed: Callable[[Job, BaseException], None],
    ) -> None:
        self.name, self.model, self.options = name, model, options
        self.batch_size = model.batch.batch_limit(options.max_batch)
        self.batcher = Batcher(
            self.batch_size,
            options.max_delay_ms / 1000.0,
            preferred=model.batch.preferred(options.max_batch),
            max_staleness_s=options.max_staleness_ms / 1000.0 if options.max_staleness_ms else None,
        )
        self._ended, self._failed = ended, failed
        self.queues: dict[str, asyncio.Queue[Any]] = {}
        self._ahead = asyncio.Semaphore(1)

    def replace(self, model: FrameModel, options: PipelineOptions) -> None:
        """Use `model` and the batch settings of `options` from the next batch on; batches already
        formed finish on the old model."""
        self.model, self.options = (
            model,
            replace(
                self.options,
                max_batch=options.max_batch,
                max_delay_ms=options.max_delay_ms,
                max_staleness_ms=options.max_staleness_ms,
            ),
        )
        self.batch_size = model.batch.batch_limit(options.max_batch)
        self.batcher.resize(
            self.batch_size,
            model.batch.preferred(options.max_batch),
            options.max_delay_ms / 1000.0,
            options.max_staleness_ms / 1000.0 if options.max_staleness_ms else None,
        )

    def loops(
        self, on_workers: Offload, on_infer: Offload
    ) -> tuple[Coroutine[Any, Any, None], Coroutine[Any, Any, None], asyncio.Queue[Job | None]]:
        """The lane's prepare and infer loops (to run as tasks) and the queue of inferred jobs
        they fill, which the pipeline's publish task of this lane empties."""
        prepared: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=1)
        inferred: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=1)
        self.queues = {"prepared": prepared, "inferred": inferred}
        return self._prepare(prepared, on_workers), self._infer(prepared, inferred, on_infer), inferred

    async def _prepare(self, out: asyncio.Queue[Job | None], offload: Offload) -> None:
        # A batch is formed only once inference has taken the previous one: one batch is
        # pre-processed while another infers, and no frame ages in a queue of ready batches.
        while True:
            await self._ahead.acquire()
            items = await self.batcher.get_batch()
            job = Job(items or [], self.model, ended=self._ended(self.batcher.take_ended()), lane=self.name)
            if not items:
                if job.ended:
                    await out.put(job)  # only ends to pass on, behind the batches before them
                else:
                    self._ahead.release()
                if items is None:
                    break
                continue
            t0 = time.perf_counter()
            try:
                job.prepared = await offload(job.model.pre_process, [item.frame.image for item in items])
            except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the other frames
                self._failed(job, exc)
                await self._pass_ends(job, out)
                continue
            job.pre_ms = (time.perf_counter() - t0) * 1e3
            await out.put(job)
        await out.put(None)

    async def _infer(self, inbox: asyncio.Queue[Job | None], out: asyncio.Queue[Job | None], offload: Offload) -> None:
        while (job := await inbox.get()) is not None:
            self._ahead.release()
            if not job.items:
                await out.put(job)
                continue
            t0 = time.perf_counter()
            try:
                job.raw = await offload(job.model.forward, job.prepared)
            except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the other frames
                self._failed(job, exc)
                await self._pass_ends(job, out, release=False)
                continue
            job.infer_ms = (time.perf_counter() - t0) * 1e3
            await out.put(job)
        await out.put(None)

    async def _pass_ends(self, job: Job, out: asyncio.Queue[Job | None], *, release: bool = True) -> None:
        """A failed batch's ended chains still travel behind the batches before them."""
        if job.ended:
            await out.put(Job([], job.model, ended=job.ended, lane=self.name))
        elif release:
            self._ahead.release()
