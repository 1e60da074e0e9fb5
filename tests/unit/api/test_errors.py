"""How the management API answers the daemon's errors: a refused change of the running pipeline
(`PipelineError`) is a 409 naming it, another vigil error a 400, both as `{"error": ...}`."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from vigil.config import SourceConfig
from vigil.api.app import make_app
from vigil.errors import ConfigError, PipelineError, VigilError


class RefusingControl:
    """A `Control` whose add_stream fails with the error a test chooses."""

    def __init__(self, error: VigilError) -> None:
        self.error = error

    def readiness(self) -> dict[str, Any]:
        return {"ready": True, "reasons": [], "checks": {}}

    def streams(self) -> list[dict[str, Any]]:
        return []

    async def add_stream(self, config: SourceConfig) -> dict[str, Any]:
        raise self.error

    async def remove_stream(self, name: str) -> None:
        raise self.error

    def model_info(self) -> dict[str, Any]:
        return {}

    def metrics(self) -> bytes:
        return b""


@pytest.mark.parametrize(
    "error, status",
    [
        (PipelineError("source 'door' already exists in this pipeline; remove it first or use another name"), 409),
        (PipelineError("source 'door' not added: the pipeline takes no new sources (it is stopping)"), 409),
        (ConfigError("stream 'door' sends to alerts, which is not configured"), 400),
    ],
)
async def test_a_refused_stream_is_a_clear_4xx(error, status):
    async with TestClient(TestServer(make_app(RefusingControl(error)))) as client:
        response = await client.post("/api/v1/streams", json={"name": "door", "url": "rtsp://10.0.0.1/s"},
                                       headers={"X-Vigil-Console": "1"})
        assert response.status == status
        assert await response.json() == {"error": str(error)}
