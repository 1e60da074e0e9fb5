"""Build steps at start: what must run on the box before a backend's packages can load, as each
backend's catalog entry declares it (`BackendKind.build_step`, a `vigil.catalog.BuildStep`). With
`model.tensorrt.build_engine: auto` the daemon builds a TensorRT package for this GPU from the
model directory's ONNX package when it has none; a plugin backend with a step of its own is run
the same way, with no edit here."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.catalog import CATALOG, BackendKind, BuildStep
from vigil.config.daemon import DaemonConfig
from vigil.config.model import ModelConfig
from vigil.daemon.systemd import Notifier

if TYPE_CHECKING:
    from vigil.engine.developer_tools import RuntimeEnvironment

__all__ = ["run_build_steps"]

log = logging.getLogger(__name__)


async def run_build_steps(config: DaemonConfig, notifier: Notifier) -> None:
    """Run the build step of every backend that declares one the configuration asks for, when
    the machine has that backend and a device it runs on, and no package of it fits the model
    directory. Progress goes to the log and to systemd (STATUS=, and EXTEND_TIMEOUT_USEC= so
    the start is not timed out)."""
    asked = [
        kind for kind in CATALOG.backends.declared() if kind.build_step is not None and _asked(kind.build_step, config.model)
    ]
    if not asked:
        return
    from vigil.engine import developer_tools as tools

    env = tools.current_environment()
    for kind in asked:
        await _build_if_needed(kind, config, notifier, env)


def _asked(step: BuildStep, model: ModelConfig) -> bool:
    if step.switch is None:
        return True
    return getattr(_settings(step, model), step.switch, None) == "auto"


def _settings(step: BuildStep, model: ModelConfig) -> Any:
    return None if step.settings is None else getattr(model, step.settings)


def _switch(step: BuildStep) -> str:
    """How the configuration names the step, for the log."""
    return f"model.{step.settings}.{step.switch}: auto" if step.switch else f"the {step.what} build step"


async def _build_if_needed(kind: BackendKind, config: DaemonConfig, notifier: Notifier, env: RuntimeEnvironment) -> None:
    from vigil.engine import developer_tools as tools
    from vigil.engine.backends import BuildJob

    step = kind.build_step
    assert step is not None
    if kind.name not in env.backends or not _device_here(kind, env):
        log.info(
            "%s: not building a %s: this machine lacks %s or %s", _switch(step), step.what, kind.title, kind.devices_in_words()
        )
        return
    model_dir = Path(config.model.path)
    if not (model_dir / "model.json").is_file():
        if step.switch is not None:  # asked for by name: say why nothing happens
            log.warning("%s needs a model directory (vigil models import --onnx FILE DIR); not building", _switch(step))
        return
    name, listing = tools.list_model(model_dir)
    batch = config.batch.max_batch
    request = tools.ResolutionRequest(backends=(kind.name,), batch_size=batch)
    if tools.resolve(listing.packages, request, env).candidates:
        return
    log.warning("model %s: building a %s for this machine; this takes minutes, once", name, step.what)

    def progress(phase: str, elapsed: float) -> None:  # on the builder's thread
        log.info("%s build: %s (%.0f s)", kind.title, phase, elapsed)
        notifier.status(f"building {step.what}: {phase} ({elapsed:.0f} s)")
        notifier.extend_timeout(120)

    job = BuildJob(model_dir, listing, batch, _settings(step, config.model), env, progress)
    started = time.monotonic()
    package_id = await asyncio.to_thread(step.load_run(), job)
    log.info("model %s: %s package '%s' built in %.0f s", name, kind.title, package_id, time.monotonic() - started)


def _device_here(kind: BackendKind, env: RuntimeEnvironment) -> bool:
    """Whether this machine has a device the backend runs on: a GPU-only backend needs a GPU (as
    the resolver holds it)."""
    return kind.devices != ("gpu",) or env.has_gpu
