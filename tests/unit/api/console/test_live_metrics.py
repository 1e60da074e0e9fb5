"""The live view in /metrics: viewers (gauge) and JPEGs encoded (counter) per camera, read from
the LiveView at scrape time."""

from __future__ import annotations

import asyncio

from tests.unit.api.console.results import face_result
from vigil.api.console.live import LiveView
from vigil.daemon.metrics import PrometheusMetrics


async def test_viewers_and_encodes_are_exported_per_camera() -> None:
    live, metrics = LiveView(fps=5.0), PrometheusMetrics()
    metrics.observe_live(live)
    try:
        live.published(face_result("cam1", 0))
        live.published(face_result("cam2", 0))
        text = metrics.exposition().decode()
        assert 'vigil_live_viewers{source="cam1"} 0.0' in text
        assert 'vigil_live_frames_encoded_total{source="cam2"} 0.0' in text
        frames = live.subscribe("cam1", 320)
        await asyncio.wait_for(frames.__anext__(), 3)
        await live.snapshot("cam1")
        text = metrics.exposition().decode()
        assert 'vigil_live_viewers{source="cam1"} 1.0' in text
        assert 'vigil_live_frames_encoded_total{source="cam1"} 2.0' in text
        assert 'vigil_live_viewers{source="cam2"} 0.0' in text
        frames.close()
        live.forget("cam1")
        text = metrics.exposition().decode()
        assert 'source="cam1"' not in text, "a removed camera's series go"
    finally:
        live.close()
