"""`DaemonControl`: the daemon as the management API sees it (`vigil.api.app.Control`).

Changes made through the API (streams added or removed, a camera's zones) are applied to the
running daemon and kept in its stream layer (`vigil.api.state`), so they outlive reloads
and restarts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.api.models import EffectiveConfig, ModelInfo, ModelList, Readiness, Removed, Stream, StreamList
from vigil.config import SourceConfig

if TYPE_CHECKING:
    from vigil.daemon.service import Daemon

__all__ = ["DaemonControl"]


class DaemonControl:
    """Adapts a `Daemon` to the API's `Control` protocol (metrics() clashes with its attribute)."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    def readiness(self) -> Readiness:
        return self._daemon.readiness()

    def streams(self) -> StreamList:
        return StreamList(streams=self._daemon.streams())

    async def add_stream(self, config: SourceConfig) -> Stream:
        described = await self._daemon.add_stream(config)
        self._daemon.layer.added(config)  # lasts across reloads and restarts
        return described.model_copy(update={"origin": "api"})

    async def remove_stream(self, name: str) -> Removed:
        await self._daemon.remove_stream(name)
        self._daemon.layer.deleted(name)
        return Removed(removed=name)

    def model_info(self) -> ModelInfo:
        return self._daemon.model_info()

    def models_info(self) -> ModelList:
        return ModelList(models=self._daemon.models_info())

    def metrics(self) -> bytes:
        return self._daemon.metrics_text()

    def source_config(self, name: str) -> SourceConfig | None:
        return self._daemon.source_config(name)

    def frame_size(self, name: str) -> tuple[int, int] | None:
        live = self._daemon.live
        return live.frame_size(name) if live is not None else None

    async def set_source_stages(self, config: SourceConfig) -> None:
        await self._daemon.restage(config)
        self._daemon.layer.added(config)  # the zone editor's shapes last like a stream added here

    def effective_config(self) -> EffectiveConfig:
        return self._daemon.effective_config()
