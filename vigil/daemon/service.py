"""The long-running daemon: one pipeline that keeps running, the management API, metrics,
systemd notifications and configuration reloads.

`Daemon.serve(config_file)` is the process's life, the way uvicorn's `Server.serve()` is: the
signal handlers installed (`vigil.daemon.signals`: SIGTERM/SIGINT stop, a second one forces,
SIGHUP reloads the file), then `run()`, then the handlers removed. `run()` loads the model,
starts the sinks, the sources and the API, tells systemd it is ready, then serves until `stop()`
(asked before the pipeline exists, the stop is applied once it does). `reload(config)` applies a
new configuration without a gap for untouched streams: streams added, removed or changed are
started, stopped or restarted.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.api.app import make_app
from vigil.api.control import DaemonControl
from vigil.api.media import StreamPolicy
from vigil.api.models import EffectiveConfig, ModelInfo, Readiness, Stream
from vigil.api.server import ApiServer, raise_open_file_limit
from vigil.api.state import StreamLayer, default_state_file
from vigil.config import SourceConfig
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.config.inputs import url_of
from vigil.daemon.assemble import LoadedModels, load_models, make_camera, make_sinks, make_stages, pipeline_options, routes
from vigil.daemon.decoders import describe_decoder, look_for_decoders
from vigil.daemon.describe import describe_models
from vigil.daemon.engine_build import run_build_steps
from vigil.daemon.fleet_surfaces import fleet_surfaces
from vigil.daemon.inputs import InputsCollector, describe_inputs
from vigil.daemon.latency import StreamMetrics
from vigil.daemon.readiness import readiness
from vigil.daemon.reload import ReloadOnSighup, apply_models, apply_sinks, lane_options
from vigil.daemon.signals import Interrupted, StopSignals
from vigil.daemon.systemd import Notifier, Watchdog
from vigil.errors import ConfigError, VigilError
from vigil.fleet.agent import FleetAgent
from vigil.pipeline.observer import Observers, PipelineObserver
from vigil.pipeline.runner import Pipeline, PipelineReport
from vigil.redact import mask_url
from vigil.sinks.base import CameraStatus
from vigil.sources.base import Source
from vigil.store import Store, StoreFeed
from vigil.store.log import open_store, snapshot_event_dirs

if TYPE_CHECKING:
    from vigil.api.console.live import LiveView

__all__ = ["Daemon"]

log = logging.getLogger(__name__)


class Daemon:
    def __init__(
        self, config: DaemonConfig, api: ApiConfig | None = None, layer: StreamLayer | None = None, store: Store | None = None
    ) -> None:
        self.config = config
        self.api = api or config.api  # `api` overrides the file's section (tests: port 0)
        self.layer = layer or StreamLayer()  # the API's stream changes on top of the YAML (in memory when None)
        self.metrics = StreamMetrics()
        self.store = store  # the events (None: run() opens the configured one, and closes it)
        self.notifier = Notifier.from_env(unset=True)
        self.pipeline: Pipeline | None = None
        self.api_port: int | None = None
        self.progress_at = time.monotonic()  # last batch done, for the watchdog
        self._configs: dict[str, SourceConfig] = {}
        self._changing_streams = False  # a reload is stopping and starting streams
        self._ready = asyncio.Event()
        self._stop_asked = False
        self._own_store: Store | None = None  # the store run() opened
        self.models = LoadedModels()  # the cascades' secondaries live here; the frame models in the pipeline
        self.live: LiveView | None = None  # the console's live views (api.console), made by run()
        self.fleet: FleetAgent | None = None  # the fleet's reconciler (fleet:), started by run()

    @classmethod
    async def for_file(cls, path: Path, config: DaemonConfig, environ: Mapping[str, str]) -> Daemon:
        """The daemon of the YAML file `path` (read into `config`), with the API's stream changes
        kept in its state file (`api.state_file`, else `default_state_file`, which reads `environ`)."""
        state_file = Path(config.api.state_file) if config.api.state_file else default_state_file(path, environ)
        return cls(config, layer=await asyncio.to_thread(StreamLayer.load, state_file, StreamPolicy.of(config.api)))

    async def run(self) -> PipelineReport:
        raise_open_file_limit()  # before anything opens files: cameras, sinks, the API's clients
        sinks = await make_sinks(self.config)
        await run_build_steps(self.config, self.notifier)  # the backends' steps the config asks for
        self.models = models = await load_models(self.config)
        configs = [source for source, _ in self.layer.apply(self.config.sources)]
        await look_for_decoders(configs)  # auto's hardware probe, off the event loop
        cameras = {s.name: make_camera(s, models.steps, models.input_size(self.config.models_of(s)[0])) for s in configs}
        sources = [source for source, _ in cameras.values()]
        stages = {name: chain for name, (_, chain) in cameras.items()}
        self._configs = {s.name: s for s in configs}
        options = replace(pipeline_options(self.config, keep_running=True), drain_timeout_s=self.config.shutdown_timeout_s)
        self.pipeline = pipeline = Pipeline(
            models.frame,
            sources,
            sinks,
            options,
            Observers(*await self._observers()),
            stages,
            source_models={s.name: self.config.models_of(s) for s in configs},
            model_options=lane_options(self.config, models.frame),
        )
        pipeline.routes = routes(configs)
        self.metrics.observe(pipeline.snapshot, lambda: pipeline.fanout.outlets)
        self.metrics.observe_clips(lambda: pipeline.sources)
        self.metrics.registry.register(InputsCollector(lambda: pipeline.sources))  # each camera input
        async with AsyncExitStack() as stack:
            stack.callback(self.notifier.close)
            if self.live is not None:
                stack.callback(self.live.close)
            if self._own_store is not None:
                stack.push_async_callback(self._own_store.close)
            runner = await self._start_api() if self.api.enabled else None
            if runner is not None:
                stack.push_async_callback(runner.close)
            # The models in use at the end (reloads replace them).
            stack.callback(lambda: LoadedModels(pipeline.models, self.models.steps).close())
            run = asyncio.create_task(pipeline.run(), name="pipeline")
            running = asyncio.create_task(pipeline.running.wait())
            await asyncio.wait([run, running], return_when=asyncio.FIRST_COMPLETED)
            running.cancel()
            self._ready.set()
            if self._stop_asked:  # while the model loaded or the sources started
                pipeline.request_stop()
            else:
                self.notifier.ready()
            if self.config.fleet is not None and not self._stop_asked:  # cameras shared with other boxes
                self.fleet = FleetAgent(self.config.fleet, self, local=self._own_streams, api_url=self._api_url)
                self.fleet.start()
                stack.push_async_callback(self.fleet.leave)
            status = asyncio.create_task(self._report_status(), name="systemd-status")
            stack.callback(status.cancel)
            interval = self.notifier.watchdog_interval()
            if interval:
                # Frames waiting and no batch done for a whole WatchdogSec: stalled, stop pinging.
                self.metrics.heartbeat.max_age_s = interval
                await stack.enter_async_context(Watchdog(self.notifier, interval, self._making_progress))
            return await run
        raise AssertionError("unreachable")  # the exit stack does not swallow exceptions

    async def _observers(self) -> list[PipelineObserver]:
        """Who hears the pipeline: metrics, the event store (with its search: when configured)
        and the console's live views (api.console)."""
        if self.store is None:
            state_dir = self.layer.path.parent if self.layer.path is not None else None
            self.store = self._own_store = await open_store(
                self.config, self.api.events_kept, lambda: snapshot_event_dirs(self.config), state_dir
            )
        observers: list[PipelineObserver] = [self.metrics, StoreFeed(self.store)]
        if self.api.enabled and self.api.console:
            from vigil.api.console.live import LiveView

            self.live = LiveView(fps=self.api.live_fps, max_width=self.api.live_max_width)
            self.metrics.observe_live(self.live)
            observers.append(self.live)
        return observers

    async def serve(self, config_file: Path | None = None, *, force: Callable[[], None] | None = None) -> PipelineReport:
        """`run()` until SIGTERM or SIGINT (`stop()`: what was read drains within
        shutdown_timeout_s); a second one calls `force` (the command line's exits the process;
        by default the run is cancelled and `Interrupted` raised). SIGHUP reloads `config_file`,
        when given. The handlers there before are back when it returns."""
        run = asyncio.ensure_future(self.run())
        forced = False

        def force_stop() -> None:
            nonlocal forced
            forced = True
            (force or run.cancel)()

        reload = ReloadOnSighup(self, config_file) if config_file is not None else None
        with StopSignals(self.stop, force_stop, reload):
            try:
                return await run
            except asyncio.CancelledError:
                if forced and force is None:
                    raise Interrupted("a second stop signal: the run was cancelled, results in flight are lost") from None
                raise

    async def wait_ready(self) -> None:
        await self._ready.wait()

    @property
    def stopping(self) -> bool:
        """`stop()` was called."""
        return self._stop_asked

    def stop(self) -> None:
        self._stop_asked = True
        self.notifier.stopping()
        if self.pipeline is not None and self.fleet is not None:  # the fleet's cameras handed over first
            pipeline = self.pipeline
            leaving = asyncio.ensure_future(self.fleet.leave(min(10.0, self.config.shutdown_timeout_s)))
            leaving.add_done_callback(lambda _: pipeline.request_stop())
        elif self.pipeline is not None:
            self.pipeline.request_stop()

    def _own_streams(self) -> set[str]:
        """The streams of this box alone (the YAML's, the API's): the fleet leaves their names alone."""
        return set(self._configs) - set(self.fleet.held if self.fleet else ())

    def _api_url(self) -> str | None:
        return f"http://{self.api.host}:{self.api_port}" if self.api_port else None

    def _making_progress(self) -> bool:
        """For the watchdog: a batch finished lately, or nothing is waiting to be inferred."""
        if self.metrics.heartbeat.recent() or self.pipeline is None:
            return True
        return self.pipeline.snapshot().waiting == 0

    async def _report_status(self, every_s: float = 5.0) -> None:
        while True:
            streams = self.streams()
            streaming = sum(1 for s in streams if s.state == "streaming")
            fps = sum(s.fps for s in streams)
            self.notifier.status(f"{streaming}/{len(streams)} streams streaming, {fps:.1f} results/s")
            if not self._changing_streams:
                await self._tell_cameras()
            await asyncio.sleep(every_s)

    async def _tell_cameras(self) -> None:
        """Every camera's state, fps and zone names to the sinks (`Sink.cameras`): MQTT's Home
        Assistant entities follow the cameras and zones. No URL, no error: nothing secret."""
        if self.pipeline is None:
            return
        cameras = []
        for stream in self.streams():
            config = self._configs.get(stream.name)
            zones = tuple(zone.name for zone in config.zones) if config is not None else ()
            cameras.append(CameraStatus(stream.name, stream.state.value, stream.fps, zones))
        await self.pipeline.fanout.cameras(cameras)

    async def reload(self, config: DaemonConfig) -> None:
        """Streams added, removed or changed are started, stopped or restarted; the others keep
        running; a changed model is swapped in at the next batch and changed sinks are replaced
        (each old one finishes what it had queued first)."""
        assert self.pipeline is not None
        self.notifier.reloading()
        try:
            await self._apply(config)
        finally:
            self.notifier.ready()

    async def _apply(self, config: DaemonConfig) -> None:
        assert self.pipeline is not None
        models = await apply_models(self.pipeline, self.models.steps, self.config, config)
        kept_sinks = await apply_sinks(self.pipeline, self.config, config)
        new = {s.name: s for s, _ in self.layer.apply(config.sources)}
        # The sinks are told of the cameras once, after the changes (not by the status tick in
        # between): a restarted camera keeps its MQTT entities rather than losing and remaking them.
        self._changing_streams = True
        try:
            for name, old in list(self._configs.items()):
                if new.get(name) != old:
                    await self.remove_stream(name, tell=False)
            self.config = config.model_copy(update={"models": models, "sinks": kept_sinks})
            for name, source in new.items():
                if name not in self._configs:
                    try:
                        await self.add_stream(source, tell=False)
                    except VigilError as exc:  # one camera that cannot start must not stop the others
                        log.error("reload: stream '%s' not started: %s", name, exc)
        finally:
            self._changing_streams = False
        await self._tell_cameras()
        log.info("reload: %d stream(s) running", len(self._configs))

    # The API's view (vigil.api.app.Control).

    def readiness(self) -> Readiness:
        """Ready, and the model, sources and sinks checked (the rule: vigil.daemon.readiness)."""
        return readiness(self.pipeline, self.store)

    def streams(self) -> list[Stream]:
        if self.pipeline is None:
            return []
        return [self._describe(source) for source in self.pipeline.sources]

    async def add_stream(self, config: SourceConfig, *, tell: bool = True) -> Stream:
        assert self.pipeline is not None
        unknown = [name for name in config.sinks or () if self.config.sink(name) is None]
        if unknown:
            raise ConfigError(f"stream '{config.name}' sends to {', '.join(unknown)}, which is not configured")
        problems = self.config.source_model_problems(config)
        if problems:
            raise ConfigError("; ".join(message for _, message in problems))
        await look_for_decoders([config])
        source, stages = make_camera(config, self.models.steps, self.models.input_size(self.config.models_of(config)[0]))
        self.metrics.track(config.name)  # a name removed earlier is counted again
        if self.live is not None:
            self.live.track(config.name)  # a name removed earlier is shown again
        if config.sinks is not None:
            self.pipeline.routes[config.name] = frozenset(config.sinks)
        await self.pipeline.add_source(source, stages, models=self.config.models_of(config))
        self._configs[config.name] = config
        log.info("stream '%s' added", config.name)
        if tell:
            await self._tell_cameras()
        return self._describe(source)

    async def remove_stream(self, name: str, *, tell: bool = True) -> None:
        assert self.pipeline is not None
        await self.pipeline.remove_source(name)
        self.pipeline.routes.pop(name, None)
        self._configs.pop(name, None)
        self.metrics.recent.pop(name, None)
        self.metrics.drops.pop(name, None)
        self.metrics.forget_source(name)
        if self.live is not None:
            self.live.forget(name)
        log.info("stream '%s' removed", name)
        if tell:
            await self._tell_cameras()

    def source_config(self, name: str) -> SourceConfig | None:
        """The configuration of the running stream `name` (None: no such stream)."""
        return self._configs.get(name)

    async def restage(self, config: SourceConfig) -> None:
        """Run the stream `config.name` with the stages `config` describes (the zone editor's
        zones and lines) from its next batch on, without restarting the camera: its stages start
        afresh (tracks end and start again); the old ones close after the batch they are in."""
        assert self.pipeline is not None
        source = next((s for s in self.pipeline.sources if s.source_id == config.name), None)
        if source is None:
            raise ConfigError(f"no stream named '{config.name}'")
        stages = make_stages(config, getattr(source, "clips", None), self.models.steps)
        await self.pipeline.replace_stages(config.name, stages)
        self._configs[config.name] = config
        log.info("stream '%s': now %d zone(s) and %d line(s)", config.name, len(config.zones), len(config.lines))
        await self._tell_cameras()

    def effective_config(self) -> EffectiveConfig:
        """The configuration in force: the YAML with the API's changes (streams, zones) on top,
        as JSON-able data (secrets not yet masked: the API masks them)."""
        data = self.config.model_dump(mode="json", exclude_unset=True)
        data["sources"] = [c.model_dump(mode="json", exclude_unset=True) for c in self._configs.values()]
        return EffectiveConfig(config=data)

    def model_info(self) -> ModelInfo:
        """The first model (`GET /api/v1/model`)."""
        return self.models_info()[0]

    def models_info(self) -> list[ModelInfo]:
        """Every model by name (`GET /api/v1/models`)."""
        assert self.pipeline is not None
        return describe_models(self.config, self.pipeline, self.models.steps, self._configs)

    def metrics_text(self) -> bytes:
        return self.metrics.exposition()

    def _describe(self, source: Source) -> Stream:
        config = self._configs.get(source.source_id)
        recent = self.metrics.recent.get(source.source_id)
        report = self.pipeline.report.sources.get(source.source_id) if self.pipeline else None
        size = self.live.frame_size(source.source_id) if self.live is not None else None
        return Stream(
            name=source.source_id,
            origin=self.layer.origin(source.source_id),
            url=mask_url(url_of(config)) if config else None,
            state=source.state,
            last_error=mask_url(getattr(source, "last_error", None) or (report.error if report else None) or "") or None,
            fps=round(self.metrics._fps(source.source_id), 2),
            latency_ms=round(statistics.median(recent), 1) if recent else None,
            results=report.results if report else 0,
            # Frames lost to load (not those left out on purpose by max_fps or a gate).
            dropped=self.metrics.drops[source.source_id] + source.stats.dropped["queue_full"],
            models=list(self.pipeline.models_of(source.source_id)) if self.pipeline else [],
            width=size[0] if size else None,
            height=size[1] if size else None,
            decoder=describe_decoder(source),
            inputs=describe_inputs(source),
        )

    def api_control(self) -> DaemonControl:
        """What the management API calls: changes made through it are kept in the stream layer."""
        return DaemonControl(self)

    async def _start_api(self) -> ApiServer:
        """The API behind its connection cap and timeouts (`vigil.api.server`)."""
        control = self.api_control()
        token = await asyncio.to_thread(self.api.read_token)
        server = ApiServer(make_app(control, token, self.store, self.live, api=self.api, fleet=fleet_surfaces(self)), self.api)
        await server.start()
        self.api_port = server.port  # the port chosen for port 0
        log.info("management API on http://%s:%d (at most %d connections)", self.api.host, self.api_port, server.limit)
        return server
