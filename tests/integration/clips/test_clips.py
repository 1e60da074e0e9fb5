"""Event clips on real video through the real model, tracker and zones stage: the astronaut's
face appears, moves and leaves; its clip is the camera's own H.264 packets (remuxed, byte for
byte) from at most `pre_roll_s` before its first sighting to `post_roll_s` after its last, and
every event of the object names it. A `vigil run` process killed while a clip is open leaves a
`.mp4.partial` that plays up to the kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import pytest

from tests.conftest import photo
from tests.integration.stages.test_tracking import FPS, SIZE, face_clip
from vigil.clips.recorder import LAG_MARGIN_S
from vigil.config.loader import parse_config
from vigil.daemon.assemble import make_camera
from vigil.engine import AutoModel
from vigil.pipeline import Pipeline, PipelineOptions
from vigil.sinks.registry import build_sink

PRE_ROLL_S, POST_ROLL_S = 0.5, 1.0
SHOWN = [range(30, 60), range(115, 116)]  # the face from 1 s to 2 s; one stray frame at the end: flicker, no object


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("clips") / "face.mp4", shown=SHOWN)


def still_face_clip(path: Path, seconds: float) -> Path:
    """The face standing still on the coffee photo for `seconds`, H.264 as face_clip makes it."""
    face = photo("astronaut")[10:230, 120:300]
    image = cv2.resize(photo("coffee"), SIZE, interpolation=cv2.INTER_AREA)
    image[120 : 120 + face.shape[0], 200 : 200 + face.shape[1]] = face
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.options = {"crf": "20", "g": "12", "bf": "2", "preset": "veryfast"}
        for _ in range(round(seconds * FPS)):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def packets_of(path: Path) -> list[tuple[bytes, float]]:
    """Every video packet of the file in decoding order: its bytes and its PTS in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(bytes(p), float(p.pts * p.time_base)) for p in container.demux(stream) if p.size]


def times_in(original: list[tuple[bytes, float]], clip: list[bytes]) -> list[float]:
    """The PTS in `original` of the run of its packets that `clip` is, byte for byte (a static
    scene repeats packets, so the whole run is matched), sorted; [] when there is none."""
    data = [d for d, _ in original]
    for at in range(len(data) - len(clip) + 1):
        if data[at : at + len(clip)] == clip:
            return sorted(pts for _, pts in original[at : at + len(clip)])
    return []


def config_text(nudenet: Path, clip: Path, clips_dir: Path, out: Path) -> str:
    return f"""model:
  path: {nudenet}
sources:
  - name: cam
    url: {clip}
    realtime: true
    max_fps: 10
    tracking:
      classes: [FACE_FEMALE, FACE_MALE]
      track_activation_threshold: 0.5
      high_confidence_threshold: 0.5
    stages:
      - {{kind: zones, lost_s: 0.5}}
    clips: {{directory: {clips_dir}, pre_roll_s: {PRE_ROLL_S}, post_roll_s: {POST_ROLL_S}}}
sinks:
  - {{kind: jsonl, path: {out}, records: [results, events]}}
"""


async def test_an_objects_clip_is_its_cameras_packets_from_pre_roll_before_it_to_post_roll_after_it(clip, nudenet_path, tmp_path):
    out, clips_dir = tmp_path / "events.jsonl", tmp_path / "clips"
    config = parse_config(config_text(nudenet_path, clip, clips_dir, out), "cam.yaml", {})
    sinks = [await build_sink(entry) for entry in config.sinks]
    [(source, stages)] = [make_camera(s) for s in config.sources]
    model = AutoModel.from_pretrained(nudenet_path)
    try:
        await Pipeline(model, [source], sinks, PipelineOptions(max_batch=4), stages={"cam": stages}).run()
    finally:
        model.close()

    records = [json.loads(line) for line in out.read_text().splitlines()]
    events = [r for r in records if r.get("record") == "event"]
    assert [e["type"] for e in events] == ["object_start", "object_end"]
    paths = {e["clip"] for e in events}
    assert len(paths) == 1
    path = Path(paths.pop())
    assert path.parent == clips_dir / "cam" / events[0]["capture_time"][:10]
    assert path.name.startswith("cam_") and path.name.endswith(f"_{events[0]['tracker_id']}.mp4")
    assert path.is_file() and not list(clips_dir.rglob("*.partial"))

    pts_of = {r["capture_time"]: r["pts"] for r in records if "record" not in r}
    first_seen, last_seen = pts_of[events[-1]["first_seen"]], pts_of[events[-1]["last_seen"]]
    assert 0.9 <= first_seen <= 1.2 and 1.8 <= last_seen <= 2.0  # the script: the face from 1 s to 2 s

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        packets = [bytes(p) for p in container.demux(stream) if p.size]
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == len(packets) > 0
    times = times_in(packets_of(clip), packets)  # remuxed: a run of the camera's packets, never re-encoded
    assert times
    assert first_seen - PRE_ROLL_S - 1e-6 <= times[0] <= first_seen  # the ring held the first sighting
    assert times[-1] >= last_seen + POST_ROLL_S - 1.5 / FPS  # post-roll covered...
    assert times[-1] <= last_seen + POST_ROLL_S + 0.5  # ...and the clip ends there, before the video does
    assert len(times) == round((times[-1] - times[0]) * FPS) + 1  # every frame between: none sampled away


def test_a_killed_daemon_leaves_a_partial_clip_that_plays_up_to_the_kill(nudenet_path, tmp_path):
    still = still_face_clip(tmp_path / "still.mp4", seconds=20)  # the face never leaves
    out, clips_dir, config = tmp_path / "events.jsonl", tmp_path / "clips", tmp_path / "vigil.yaml"
    config.write_text(config_text(nudenet_path, still, clips_dir, out) + "api:\n  enabled: false\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "run", str(config)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NOTIFY_SOCKET": ""},
    )
    try:
        deadline = time.monotonic() + 60
        while not list(clips_dir.rglob("*.mp4.partial")):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no clip was opened"
            time.sleep(0.1)
        opened = time.monotonic()
        time.sleep(LAG_MARGIN_S + 3.0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        open_for = time.monotonic() - opened
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()

    [partial] = clips_dir.rglob("*.mp4.partial")  # the object never ended: its clip was never finished
    with av.open(str(partial)) as container:
        frames = [frame.time for frame in container.decode(video=0)]
    # Packets go into a clip LAG_MARGIN_S behind the camera (so it can end post-roll after its
    # object) and a fragment is cut every second: all but that and a second or so before the kill plays.
    assert frames and frames[-1] - frames[0] >= open_for - LAG_MARGIN_S - 1.5
