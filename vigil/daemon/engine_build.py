"""`model.tensorrt.build_engine: auto`: the daemon builds a TensorRT package for this GPU at
start when it has none, from the model directory's ONNX package."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from vigil.config.daemon import DaemonConfig
from vigil.daemon.systemd import Notifier

__all__ = ["build_engine_if_needed"]

log = logging.getLogger(__name__)


async def build_engine_if_needed(config: DaemonConfig, notifier: Notifier) -> None:
    """Build a TensorRT package from the model directory's ONNX package when the machine has
    TensorRT and a GPU and no compatible TensorRT package exists. Progress goes to the log
    and to systemd (STATUS=, and EXTEND_TIMEOUT_USEC= so the start is not timed out)."""
    from vigil.engine import BackendType
    from vigil.engine import developer_tools as tools

    env = tools.current_environment()
    if "trt" not in env.backends or not env.gpus:
        log.info("model.tensorrt.build_engine: auto: no TensorRT or no NVIDIA GPU here; running the ONNX package")
        return
    model_dir = Path(config.model.path)
    if not (model_dir / "model.json").is_file():
        log.warning(
            "model.tensorrt.build_engine: auto needs a model directory (vigil models import --onnx FILE DIR); not building"
        )
        return
    name, listing = tools.list_model(model_dir)
    batch = config.batch.max_batch
    request = tools.ResolutionRequest(backends=(BackendType.TRT,), batch_size=batch)
    if tools.resolve(listing.packages, request, env).candidates:
        return
    build = tools.BuildRequest(batch=(1, batch, batch), fp16=config.model.tensorrt.engine_fp16)
    onnx_package = tools.choose_onnx_package(listing.packages, build.batch)
    folder = listing.fetch(onnx_package)
    log.warning("model %s: building a TensorRT engine for this GPU; this takes minutes, once", name)

    def progress(phase: str, elapsed: float) -> None:  # on the builder's thread
        log.info("TensorRT build: %s (%.0f s)", phase, elapsed)
        notifier.status(f"building TensorRT engine: {phase} ({elapsed:.0f} s)")
        notifier.extend_timeout(120)

    built = await asyncio.to_thread(
        tools.build_engine_package, listing.model, onnx_package, folder, model_dir, build, env, progress=progress
    )
    log.info("model %s: TensorRT package '%s' built in %.0f s", name, built.package.package_id, built.seconds)
