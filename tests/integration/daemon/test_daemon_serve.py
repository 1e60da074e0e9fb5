"""`Daemon.serve()` in-process with real signals, a real model and real paced video: SIGHUP
reloads the YAML file (a bad file is refused and changes nothing; a reload that fails is
logged and the daemon goes on), SIGTERM drains and returns the report, a stop asked while the model loads is applied once the pipeline runs, and a second
signal cancels the run (`Interrupted`) or calls the `force` it was given; afterwards the
process's own handlers are back."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import encode_clip, photo
from tests.support.signals import own_handlers  # noqa: F401 - a fixture
from vigil.config.loader import load_config
from vigil.daemon.service import Daemon
from vigil.daemon.signals import Interrupted


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory):
    return encode_clip(tmp_path_factory.mktemp("cam") / "cam.mp4", photo("astronaut"), frames=30, size=(320, 240), fps=10)


def write_yaml(path: Path, nudenet: Path, clip: Path, names: list[str]) -> Path:
    sources = "".join(f"  - {{name: {n}, url: {clip}, realtime: true, loop: true}}\n" for n in names)
    path.write_text(
        f"model: {{path: {nudenet}, image_size: 320}}\nsources:\n{sources}"
        f"sinks:\n  - {{kind: jsonl, path: {path.parent / 'r.jsonl'}}}\napi: {{enabled: false}}\n"
    )
    return path


async def until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def streaming(daemon: Daemon) -> set[str]:
    return {s.name for s in daemon.streams() if s.state == "streaming" and s.results > 0}


async def test_serve_reloads_on_sighup_and_drains_on_sigterm(tmp_path, nudenet_path, camera_clip, own_handlers, caplog):
    handler, reached = own_handlers
    caplog.set_level(logging.INFO)
    path = write_yaml(tmp_path / "vigil.yaml", nudenet_path, camera_clip, ["door"])
    daemon = Daemon(load_config(path))
    forced: list[bool] = []
    serving = asyncio.create_task(daemon.serve(path, force=lambda: forced.append(True)))
    await asyncio.wait_for(daemon.wait_ready(), 60)
    await until(lambda: streaming(daemon) == {"door"})

    write_yaml(path, nudenet_path, camera_clip, ["door", "porch"])
    os.kill(os.getpid(), signal.SIGHUP)
    await until(lambda: streaming(daemon) == {"door", "porch"})
    assert any(r.getMessage() == f"SIGHUP: reloading {path}" for r in caplog.records)

    path.write_text("model: {path: [not, a, path]}\n")
    os.kill(os.getpid(), signal.SIGHUP)
    await until(lambda: any("SIGHUP: keeping the running configuration" in r.getMessage() for r in caplog.records))
    assert {s.name for s in daemon.streams()} == {"door", "porch"} and not serving.done()

    async def broken(config: object) -> None:
        raise RuntimeError("a bug in reload")

    write_yaml(path, nudenet_path, camera_clip, ["door"])
    daemon.reload = broken  # type: ignore[method-assign]
    os.kill(os.getpid(), signal.SIGHUP)  # a reload nobody awaits: its failure is logged, the daemon goes on
    await until(lambda: any(r.getMessage() == "SIGHUP: the reload failed: a bug in reload" for r in caplog.records))
    assert not serving.done()

    os.kill(os.getpid(), signal.SIGTERM)
    report = await asyncio.wait_for(serving, 60)
    assert daemon.stopping and not forced and reached == []
    assert report.sources["door"].results > 0 and report.sources["porch"].results > 0
    assert all(signal.getsignal(sig) is handler for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))


async def test_a_stop_asked_while_the_model_loads_stops_the_daemon_once_it_runs(
    tmp_path, nudenet_path, camera_clip, own_handlers
):
    _, reached = own_handlers
    daemon = Daemon(load_config(write_yaml(tmp_path / "vigil.yaml", nudenet_path, camera_clip, ["door"])))
    serving = asyncio.create_task(daemon.serve())
    await asyncio.sleep(0)  # serve() has installed its handlers and started run()
    assert daemon.pipeline is None
    os.kill(os.getpid(), signal.SIGTERM)
    report = await asyncio.wait_for(serving, 60)
    assert daemon.stopping and daemon.pipeline is not None and reached == []
    assert report.results == sum(s.results for s in report.sources.values())


@pytest.mark.parametrize("given_force", [False, True])
async def test_a_second_signal_cancels_the_run_or_calls_force(tmp_path, nudenet_path, camera_clip, own_handlers, given_force):
    handler, reached = own_handlers
    daemon = Daemon(load_config(write_yaml(tmp_path / "vigil.yaml", nudenet_path, camera_clip, ["door"])))
    forced: list[bool] = []
    serving = asyncio.create_task(daemon.serve(force=(lambda: forced.append(True)) if given_force else None))
    await asyncio.wait_for(daemon.wait_ready(), 60)
    os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)  # both wait in the loop's signal pipe: handled one after the other
    if given_force:
        report = await asyncio.wait_for(serving, 60)  # this `force` only records: the drain goes on
        assert forced == [True] and set(report.sources) == {"door"}
    else:
        with pytest.raises(Interrupted, match="second stop signal"):
            await asyncio.wait_for(serving, 60)
    assert reached == [] and signal.getsignal(signal.SIGINT) is handler
