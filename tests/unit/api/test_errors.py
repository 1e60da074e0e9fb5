"""How the management API answers the daemon's errors: a refused change of the running pipeline
(`PipelineError`) is a 409 naming it, another vigil error a 400, both as `{"error": ...}`."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.unit.api.control_doubles import NothingRunning
from vigil.api.app import make_app
from vigil.api.models import Removed, Stream
from vigil.config import SourceConfig
from vigil.errors import ConfigError, PipelineError, VigilError


class RefusingControl(NothingRunning):
    """A `Control` whose add_stream fails with the error a test chooses."""

    def __init__(self, error: VigilError) -> None:
        self.error = error

    async def add_stream(self, config: SourceConfig) -> Stream:
        raise self.error

    async def remove_stream(self, name: str) -> Removed:
        raise self.error


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
        response = await client.post(
            "/api/v1/streams", json={"name": "door", "url": "rtsp://10.0.0.1/s"}, headers={"X-Vigil-Console": "1"}
        )
        assert response.status == status
        assert await response.json() == {"error": str(error)}
