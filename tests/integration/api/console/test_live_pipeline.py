"""End to end: a real Pipeline (a looping H.264 file played in real time, the real nudenet
YOLOv8n) with the LiveView as its observer; a viewer of the MJPEG stream sees the astronaut's
face boxed."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import aiohttp
import av
import cv2
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import FACE_CLASSES
from tests.integration.api.console.test_live_routes import read_part
from tests.unit.api.console.results import decode, picture
from vigil.api.console.live import LiveView
from vigil.api.console.live_routes import add_live_routes
from vigil.engine import AutoModel, Detections
from vigil.pipeline.observer import Observers, PipelineObserver
from vigil.pipeline.runner import Pipeline, PipelineOptions
from vigil.result import InferenceResult
from vigil.sources import FileSource


class Latest(PipelineObserver):
    def __init__(self) -> None:
        self.last: InferenceResult | None = None

    def published(self, result: InferenceResult) -> None:
        self.last = result


@pytest.fixture(scope="module")
def still_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of the astronaut standing still at 640x480, 15 fps H.264: every frame's
    detections are the same, so any frame's boxes can be compared with any other's picture."""
    path = tmp_path_factory.mktemp("live") / "still.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.options = {"crf": "18", "g": "15", "preset": "veryfast"}
        stream.time_base = Fraction(1, 15 * 512)
        for _ in range(30):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture(0), format="bgr24")))
        container.mux(stream.encode())
    return path


async def test_a_viewer_sees_the_face_boxed_by_the_real_pipeline(still_clip: Path, nudenet_path: Path) -> None:
    model = AutoModel.from_pretrained(nudenet_path)
    live, latest = LiveView(fps=5.0), Latest()
    source = FileSource("porch", still_clip, realtime=True, loop=True)
    pipeline = Pipeline(model, [source], [], PipelineOptions(max_batch=1), Observers(live, latest))
    app = web.Application()
    add_live_routes(app, live, has_stream=lambda name: name == "porch")
    server = TestServer(app)
    await server.start_server()
    run = asyncio.create_task(pipeline.run())
    try:
        async with aiohttp.ClientSession() as session:
            url = server.make_url("/api/v1/streams/porch/live.mjpeg")
            async with session.get(url) as response:
                assert response.status == 200
                parts = [await asyncio.wait_for(read_part(response.content), 20) for _ in range(3)]
                assert live.stats("porch")["viewers"] == 1
            async with session.get(server.make_url("/api/v1/streams/porch/frame.jpg?annotate=0")) as response:
                plain = decode(await response.read())
    finally:
        pipeline.request_stop()
        await asyncio.wait_for(run, 20)
        live.close()
        await server.close()
        model.close()
    assert latest.last is not None and isinstance(latest.last.detections, Detections)
    dets = latest.last.detections
    faces = dets[np.isin(dets.class_name, list(FACE_CLASSES))]  # type: ignore[arg-type]
    assert len(faces) >= 1, f"the model finds the astronaut's face: {dets.class_name}"
    x0, y0, x1, y1 = (int(round(v)) for v in faces.xyxy[0])
    drawn = decode(parts[-1][1]).astype(np.int16)
    assert drawn.shape == plain.shape == (480, 640, 3)
    diff = np.abs(drawn - plain.astype(np.int16)).mean(axis=2)
    left_edge = diff[y0 + 25 : y1 - 5, max(x0 - 1, 0) : x0 + 2].mean()
    inside = diff[y0 + 30 : y1 - 10, x0 + 10 : x1 - 10].mean()
    assert left_edge > 40, f"the face's box is drawn on the streamed frame (edge diff {left_edge:.1f})"
    assert inside < 6, f"inside the box the picture is the camera's (diff {inside:.1f})"
    assert cv2.imdecode(np.frombuffer(parts[0][1], np.uint8), cv2.IMREAD_COLOR) is not None
