"""What the test doubles of `vigil.api.app.Control` answer: the typed models of
`vigil.api.models`, as the real daemon does (test_control_answers.py holds every double found
under tests/ to it), and `NothingRunning`, a Control with no stream."""

from __future__ import annotations

from vigil.api.models import (
    BatchInfo,
    EffectiveConfig,
    ModelCheck,
    ModelInfo,
    ModelList,
    Readiness,
    ReadinessChecks,
    Removed,
    Stream,
    StreamList,
)
from vigil.api.state import Origin
from vigil.config import SourceConfig
from vigil.sources.base import SourceState

__all__ = ["NothingRunning", "a_model", "a_stream", "ready"]


def ready() -> Readiness:
    """Ready: the model `m` loaded, no source, no sink."""
    return Readiness(
        ready=True, reasons=[], checks=ReadinessChecks(model=ModelCheck(ok=True, model_id="m"), sources={}, sinks={})
    )


def a_stream(
    name: str, url: str | None, *, origin: Origin = "config", state: SourceState = SourceState.STREAMING, fps: float = 10.0
) -> Stream:
    """A stream nothing has come from yet."""
    return Stream(
        name=name,
        origin=origin,
        url=url,
        state=state,
        last_error=None,
        fps=fps,
        latency_ms=None,
        results=0,
        dropped=0,
        models=["default"],
        width=None,
        height=None,
    )


def a_model(name: str = "default", sources: tuple[str, ...] = ()) -> ModelInfo:
    """A detector with one class and no batch limit."""
    batch = BatchInfo(min=1, opt=None, max=None, static=False)
    return ModelInfo(
        name=name,
        model_id="m",
        package_id=None,
        reference="models/m",
        kind="Yolo",
        classes=["person"],
        batch=batch,
        batch_size=1,
        sources=list(sources),
        cascades=[],
    )


class NothingRunning:
    """A `Control` with no stream: a stream added is described (as connecting) but never runs."""

    def readiness(self) -> Readiness:
        return ready()

    def streams(self) -> StreamList:
        return StreamList(streams=[])

    async def add_stream(self, config: SourceConfig) -> Stream:
        return a_stream(config.name, config.url, origin="api", state=SourceState.CONNECTING, fps=0.0)

    async def remove_stream(self, name: str) -> Removed:
        return Removed(removed=name)

    def model_info(self) -> ModelInfo:
        return a_model()

    def models_info(self) -> ModelList:
        return ModelList(models=[a_model()])

    def metrics(self) -> bytes:
        return b""

    def source_config(self, name: str) -> SourceConfig | None:
        return None

    def frame_size(self, name: str) -> tuple[int, int] | None:
        return None

    async def set_source_stages(self, config: SourceConfig) -> None:
        pass

    def effective_config(self) -> EffectiveConfig:
        return EffectiveConfig(config={})
