"""Reloads: SIGHUP's handler (`ReloadOnSighup`: the YAML file read again and handed to
`Daemon.reload`), and what a reload changes besides the streams: the models and the sinks, each
by name, applied to the running pipeline without a gap.

    models = await apply_models(pipeline, steps, running, new)  # the model entries now in use
    sinks = await apply_sinks(pipeline, running, new)           # the sink entries now running
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.config.daemon import DaemonConfig
from vigil.config.loader import load_config
from vigil.config.sink_list import SinkEntry
from vigil.daemon.assemble import load_model, make_outlet, model_options
from vigil.errors import VigilError
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.stages.cascade import CascadeStep

if TYPE_CHECKING:
    from vigil.daemon.service import Daemon

__all__ = ["ReloadOnSighup", "apply_models", "apply_sinks", "lane_options"]

log = logging.getLogger(__name__)


class ReloadOnSighup:
    """SIGHUP's handler (`Daemon.serve`): `path` read again and applied, one reload at a time;
    an invalid file is logged and changes nothing, and a reload that fails is logged, not lost
    with its task (nobody awaits it)."""

    def __init__(self, daemon: Daemon, path: Path) -> None:
        self.daemon, self.path = daemon, path
        self._tasks: set[asyncio.Task[None]] = set()
        self._one_at_a_time = asyncio.Lock()

    def __call__(self) -> None:
        if self.daemon.pipeline is None:
            log.warning("SIGHUP while starting: ignored, send it again once the daemon is ready")
            return
        log.info("SIGHUP: reloading %s", self.path)
        task = asyncio.ensure_future(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def reload(self) -> None:
        async with self._one_at_a_time:
            try:
                new = await asyncio.to_thread(load_config, self.path)
            except VigilError as exc:
                log.error("SIGHUP: keeping the running configuration: %s", exc)
                return
            await self.daemon.reload(new)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIGHUP: the reload failed: %s", task.exception(), exc_info=task.exception())


def lane_options(config: DaemonConfig, names: Iterable[str]) -> dict[str, PipelineOptions]:
    """The pipeline options of each model's lane, as the daemon runs them (kept running, drained
    within `shutdown_timeout_s`)."""
    return {
        name: replace(o, drain_timeout_s=config.shutdown_timeout_s)
        for name, o in model_options(config, names, keep_running=True).items()
    }


async def apply_models(
    pipeline: Pipeline, steps: Mapping[str, CascadeStep], running: DaemonConfig, config: DaemonConfig
) -> dict[str, Any]:
    """Swap in each model whose settings (or batch) changed, by name: the new one loads while
    the old one still serves, and takes over at its next batch; the other models are
    untouched. Models added or removed by name need a restart. Returns the model entries now
    in use."""
    old, new = running.model_entries(), config.model_entries()
    if set(old) != set(new):
        log.error(
            "reload: keeping models %s: adding or removing models (%s) needs a restart",
            ", ".join(old),
            ", ".join(sorted(set(old) ^ set(new))),
        )
        return old
    kept = dict(old)
    for name in new:
        if new[name] == old[name] and config.batch_for(name) == running.batch_for(name):
            continue
        lane = name in pipeline.lanes
        try:
            model = await load_model(config, name, frame=lane)
        except VigilError as exc:
            log.error("reload: keeping model '%s': %s", name, exc)
            continue
        if lane:
            [options] = lane_options(config, [name]).values()
            pipeline.replace_model(model, options, name=name)  # type: ignore[arg-type]  # load_model(frame=True)
        if name in steps:
            steps[name].model = model  # the next batch's crops
        log.info("reload: model '%s' is now %s from the next batch on", name, model.model_id)
        kept[name] = new[name]
    return kept


async def apply_sinks(pipeline: Pipeline, running: DaemonConfig, config: DaemonConfig) -> list[SinkEntry]:
    """Replace the sinks whose `sinks:` entry changed, by name: added, removed or changed.
    The new ones are built (and checked) before the running ones are touched; if one cannot
    be built, every sink stays as it was. Returns the entries now running."""
    old = {entry.name or entry.kind: entry for entry in running.sinks}
    new = {entry.name or entry.kind: entry for entry in config.sinks}
    changed = [name for name in [*new, *(n for n in old if n not in new)] if old.get(name) != new.get(name)]
    if not changed:
        return list(config.sinks)
    try:
        replacements = {name: await make_outlet(new[name]) if name in new else None for name in changed}
    except VigilError as exc:
        log.error("reload: keeping the sinks as they were: %s", exc)
        return list(running.sinks)
    await pipeline.replace_sinks(replacements)
    described = [f"{name} ({'removed' if name not in new else 'added' if name not in old else 'replaced'})" for name in changed]
    log.info("reload: sink(s) %s", ", ".join(described))
    return list(config.sinks)
