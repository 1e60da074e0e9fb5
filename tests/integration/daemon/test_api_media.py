"""The API never opens local files or devices (issue 26, item 5): a stream added over the API is a
network camera, or a file or device under `api.allowed_media`; whatever else is named, missing or
there, gets one and the same 422. Every source opens its input through FFmpeg's format and
protocol whitelists, and the YAML's video files still play. A real daemon, real files."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp
import av
import pytest

from tests.conftest import encode_clip, photo
from tests.integration.daemon.test_daemon_api import config, started, until
from vigil.config.api import ApiConfig
from vigil.daemon.service import Daemon
from vigil.errors import SourceOpenError
from vigil.sources import FileSource

CONSOLE = {"X-Vigil-Console": "1"}  # what a script sends on a write without the token (vigil.api.guard)


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory):
    return encode_clip(tmp_path_factory.mktemp("cam") / "cam.mp4", photo("astronaut"), frames=30, size=(320, 240), fps=10)


@pytest.fixture
def media(tmp_path, camera_clip):
    """An allowed folder with a video, a copy of /etc/passwd named .txt and a symlink out of it;
    beside it, outside, a video and the same copy."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    shutil.copy(camera_clip, allowed / "clip.mp4")
    shutil.copy(camera_clip, outside / "clip.mp4")
    for folder in (allowed, outside):
        shutil.copy("/etc/passwd", folder / "notes.txt")
    (allowed / "link.mp4").symlink_to("/etc/passwd")
    (allowed / "out.mp4").symlink_to(outside / "clip.mp4")
    return allowed, outside


def refused_urls(allowed: Path, outside: Path) -> list[tuple[str, dict]]:
    """(what, body) of streams the API must refuse with one message: outside, missing, not video."""
    return [
        ("/etc/passwd", {"url": "/etc/passwd"}),
        ("a missing file", {"url": "/no/such/folder/clip.mp4"}),
        ("a .txt outside", {"url": str(outside / "notes.txt")}),
        ("a video outside", {"url": str(outside / "clip.mp4")}),
        ("file:// of /etc/passwd", {"url": "file:///etc/passwd"}),
        ("file:// of a missing file", {"url": "file:///no/such/clip.mp4"}),
        ("v4l2: of /etc/passwd", {"url": "v4l2:/etc/passwd"}),
        ("v4l2: of a missing device", {"url": "v4l2:/dev/no-such-video9"}),
        ("concat:", {"url": "concat:/etc/passwd|/etc/hosts"}),
        ("subfile:", {"url": "subfile,,start,0,end,512,,:/etc/passwd"}),
        ("a relative name", {"url": "clip.mp4"}),
        ("'..' out of the folder", {"url": f"{allowed}/../outside/clip.mp4"}),
        ("a symlink to /etc/passwd", {"url": str(allowed / "link.mp4")}),
        ("a symlink out of the folder", {"url": str(allowed / "out.mp4")}),
        ("a missing file in the folder", {"url": str(allowed / "missing.mp4")}),
        ("a .txt in the folder", {"url": str(allowed / "notes.txt")}),
        ("a video as a v4l2 device", {"url": f"v4l2:{allowed / 'clip.mp4'}"}),
    ]


async def test_the_api_refuses_local_files_and_devices_with_one_answer(tmp_path, nudenet_path, camera_clip, media):
    allowed, outside = media
    api = ApiConfig(port=0, allowed_media=[str(allowed)])
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip), api)
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    answers: dict[str, str] = {}
    async with aiohttp.ClientSession(headers=CONSOLE) as http:
        for i, (what, body) in enumerate(refused_urls(allowed, outside)):
            response = await http.post(f"{base}/api/v1/streams", json={"name": f"probe{i}", **body})
            assert response.status == 422, (what, await response.text())
            answers[what] = (await response.json())["error"]
        streams = (await (await http.get(f"{base}/api/v1/streams")).json())["streams"]
        assert [s["name"] for s in streams] == ["door"]
    daemon.stop()
    await asyncio.wait_for(task, 30)
    assert len(set(answers.values())) == 1, answers  # missing or there, outside or unreadable: no oracle
    answer = next(iter(answers.values()))
    assert "rtsp:// or rtsps:// camera" in answer and f"api.allowed_media lists ({allowed})" in answer
    assert "root:" not in answer and "passwd" not in answer


async def test_a_file_in_an_allowed_folder_plays_and_a_camera_is_always_allowed(tmp_path, nudenet_path, camera_clip, media):
    allowed, _ = media
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip), ApiConfig(port=0, allowed_media=[str(allowed)]))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    async with aiohttp.ClientSession(headers=CONSOLE) as http:
        # Named through a '..' that stays inside: run from its resolved path.
        porch = {"name": "porch", "url": f"{allowed}/../allowed/clip.mp4", "realtime": True, "loop": True}
        added = await http.post(f"{base}/api/v1/streams", json=porch)
        assert added.status == 201, await added.text()
        assert (await added.json())["url"] == str((allowed / "clip.mp4").resolve())
        camera = await http.post(f"{base}/api/v1/streams", json={"name": "gate", "url": "rtsp://127.0.0.1:9/live"})
        assert camera.status == 201, await camera.text()

        async def porch_inferred() -> bool:
            assert daemon.pipeline is not None
            return daemon.pipeline.report.sources["porch"].results >= 5

        await until(porch_inferred, timeout=30)
    daemon.stop()
    await asyncio.wait_for(task, 30)


async def test_without_allowed_media_the_api_adds_cameras_only(tmp_path, nudenet_path, camera_clip):
    daemon = Daemon(config(tmp_path, nudenet_path, camera_clip), ApiConfig(port=0))
    task = await started(daemon)
    base = f"http://127.0.0.1:{daemon.api_port}"
    async with aiohttp.ClientSession(headers=CONSOLE) as http:
        refused = await http.post(f"{base}/api/v1/streams", json={"name": "porch", "url": str(camera_clip)})
        assert refused.status == 422
        assert "api.allowed_media lists (none are listed)" in (await refused.json())["error"]
    daemon.stop()
    await asyncio.wait_for(task, 30)


def _remux(source: Path, target: Path, fmt: str | None = None) -> Path:
    """`source`'s H.264 stream copied into another container (or a raw bitstream)."""
    with av.open(str(source)) as inp, av.open(str(target), "w", format=fmt) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return target


def _encode(source: Path, target: Path, codec: str) -> Path:
    """`source`'s frames encoded again with `codec` (AVI, say, holds MPEG-4 part 2 or MJPEG best)."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height = 320, 240
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for frame in inp.decode(video=0):
            out.mux(stream.encode(frame.reformat(format=stream.pix_fmt)))
        out.mux(stream.encode())
    return target


@pytest.mark.parametrize(
    "name, how",
    [
        ("clip.mp4", None),
        ("clip.mkv", "remux"),
        ("clip.mov", "remux"),
        ("clip.ts", "remux"),
        ("clip.h264", "h264"),
        ("clip", "matroska"),
        ("clip.avi", "mpeg4"),
        ("clip.webm", "libvpx"),
        ("clip.mjpeg", "mjpeg"),
    ],
)
async def test_yaml_video_files_still_play_through_the_whitelists(tmp_path, camera_clip, name, how):
    if how is None:
        path = camera_clip
    elif how in ("remux", "h264", "matroska"):
        path = _remux(camera_clip, tmp_path / name, None if how == "remux" else how)
    else:
        path = _encode(camera_clip, tmp_path / name, how)
    source = FileSource("a", path)
    await source.start()
    frames = [frame async for frame in source]
    assert len(frames) == 30 and frames[0].image.shape == (240, 320, 3)


@pytest.mark.parametrize("name", ["passwd.txt", "notes.nfo", "art.ans"])
async def test_a_text_file_is_never_rendered_as_a_picture(tmp_path, name):
    """FFmpeg's tty demuxer would show /etc/passwd as video: not a container a source opens."""
    path = tmp_path / name
    shutil.copy("/etc/passwd", path)
    with av.open(str(path)) as container:  # what FFmpeg alone would do with it
        assert container.format.name == "tty" and container.streams.video
    with pytest.raises(SourceOpenError, match="is not a readable video"):
        await FileSource("a", path).start()


async def test_a_file_named_like_a_protocol_is_read_as_that_file(tmp_path, camera_clip, monkeypatch):
    """`concat:a.txt|b.txt` is a file name to a file source, never FFmpeg's concat protocol (which
    would read a.txt and b.txt, here copies of /etc/passwd, and render them as text)."""
    monkeypatch.chdir(tmp_path)
    for part in ("a.txt", "b.txt"):
        shutil.copy("/etc/passwd", tmp_path / part)
    shutil.copy(camera_clip, tmp_path / "concat:a.txt|b.txt")
    source = FileSource("a", "concat:a.txt|b.txt")
    await source.start()
    frames = [frame async for frame in source]
    assert len(frames) == 30 and frames[0].image.shape == (240, 320, 3)
