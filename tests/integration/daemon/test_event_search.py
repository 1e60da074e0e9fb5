"""Events searchable by text and likeness (`search:`): a tiny random-weight CLIP built from its
transformers config (no model hub here), held to transformers' own code; the store kept in
SQLite across restarts; the search route of a real daemon on a real camera clip."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import aiohttp
import numpy as np
import pytest
import torch
import transformers

from tests.conftest import encode_clip, photo
from tests.support.tiny_hf import build_blip, build_clip
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.config.search import SearchConfig
from vigil.daemon.service import Daemon
from vigil.errors import ConfigError
from vigil.events import Event
from vigil.frame import Frame
from vigil.store.search import VectorStore, crop, load_search

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return build_clip(tmp_path_factory.mktemp("clip") / "clip")


def an_event(n: int, image: np.ndarray, box: tuple[float, float, float, float]) -> Event:
    frame = Frame("door", n, n / 10, T0, image)
    return Event("object_start", "door", n, "FACE_FEMALE", 1, T0, n, confidence=0.9, box=box, frame=frame)


def library_image_vectors(folder, images: list[np.ndarray]) -> np.ndarray:
    """transformers' own path: the processor on RGB images, get_image_features, L2-normalised."""
    processor = transformers.CLIPProcessor.from_pretrained(folder)
    model = transformers.CLIPModel.from_pretrained(folder).eval()
    with torch.no_grad():
        inputs = processor(images=[i[:, :, ::-1] for i in images], return_tensors="pt")
        out = model.get_image_features(**inputs)
    out = getattr(out, "pooler_output", out)
    return torch.nn.functional.normalize(out, dim=-1).numpy()


def library_text_vector(folder, text: str) -> np.ndarray:
    processor = transformers.CLIPProcessor.from_pretrained(folder)
    model = transformers.CLIPModel.from_pretrained(folder).eval()
    with torch.no_grad():
        out = model.get_text_features(**processor(text=[text], return_tensors="pt", padding=True))
    out = getattr(out, "pooler_output", out)
    return torch.nn.functional.normalize(out, dim=-1).numpy()[0]


async def test_events_are_embedded_as_transformers_embeds_their_crops_and_ranked_as_it_ranks_the_text(clip_dir, tmp_path):
    config = SearchConfig(model=str(clip_dir), database=str(tmp_path / "s.sqlite"), batch=2)
    search = await load_search(config, None)
    search.start()
    pictures = [photo("astronaut"), photo("coffee"), photo("chelsea"), photo("rocket")]
    boxes = [(170.0, 70.0, 280.0, 190.0), (50.0, 40.0, 500.0, 380.0), (100.0, 20.0, 400.0, 280.0), (200.0, 50.0, 380.0, 400.0)]
    events = [an_event(n, image, box) for n, (image, box) in enumerate(zip(pictures, boxes))]
    search.events(events[:3])
    search.events(events[3:])
    await asyncio.wait_for(search.idle(), 60)
    try:
        expected = library_image_vectors(clip_dir, [crop(e.frame.image, e.box, 0.1) for e in events])
        stored = np.stack([search.store.vector(e.to_record()["id"]) for e in events])
        np.testing.assert_allclose(stored, expected, atol=1e-5)

        text = library_text_vector(clip_dir, "a photo of a red car")
        found = await search.by_text("a photo of a red car", 10)
        library_order = [events[i].to_record()["id"] for i in np.argsort(-(expected @ text), kind="stable")]
        assert [f["id"] for f in found] == library_order
        np.testing.assert_allclose([f["score"] for f in found], np.sort(expected @ text)[::-1], atol=1e-5)

        like = await search.like(events[2].to_record()["id"], 2)
        assert like[0]["id"] == events[2].to_record()["id"] and like[0]["score"] == pytest.approx(1.0, abs=1e-5)
        assert await search.like("no-such-event", 2) is None
        assert search.embedded == 4 and search.dropped == 0
    finally:
        await search.close()

    # Kept across a restart: the same file gives the same vectors.
    again = VectorStore(str(tmp_path / "s.sqlite"), stored.shape[1], 100)
    try:
        assert len(again) == 4
        np.testing.assert_array_equal(again.vector(events[1].to_record()["id"]), stored[1])
    finally:
        again.close()


async def test_a_vision_language_model_describes_each_event_as_it_would_alone(clip_dir, tmp_path):
    blip = build_blip(tmp_path / "blip", captioning=True)
    config = SearchConfig(model=str(clip_dir), describe=str(blip), describe_prompt="a picture of")
    search = await load_search(config, None)
    search.start()
    events = [
        an_event(0, photo("astronaut"), (170.0, 70.0, 280.0, 190.0)),
        an_event(1, photo("coffee"), (50.0, 40.0, 500.0, 380.0)),
    ]
    search.events(events)
    await asyncio.wait_for(search.idle(), 60)
    try:
        assert search.describer is not None
        found = {f["id"]: f for f in await search.by_text("a cup", 5)}
        for event in events:
            alone = search.describer.prompt(crop(event.frame.image, event.box, 0.1), "a picture of")
            assert alone and found[event.to_record()["id"]]["description"] == alone
    finally:
        await search.close()
    with pytest.raises(ConfigError, match="not a vision-language model"):
        await load_search(SearchConfig(model=str(clip_dir), describe=str(clip_dir)), None)


def test_the_store_forgets_the_oldest_past_max_events(tmp_path):
    store = VectorStore(str(tmp_path / "s.sqlite"), 4, 100)
    vectors = np.eye(4, dtype=np.float32)[np.arange(150) % 4]
    store.add([{"id": f"e{i}", "source": "door", "type": "zone_enter"} for i in range(150)], vectors)
    assert len(store) == 100 and store.vector("e49") is None and store.vector("e50") is not None
    assert [r["id"] for r in store.rank(np.eye(4, dtype=np.float32)[1], 3, source="door")] == ["e53", "e57", "e61"]
    assert store.rank(np.eye(4, dtype=np.float32)[1], 3, source="gate") == []
    store.close()
    assert len(VectorStore(str(tmp_path / "s.sqlite"), 4, 1000)) == 100


async def test_a_search_model_that_embeds_nothing_is_a_clear_config_error(nudenet_path):
    with pytest.raises(ConfigError, match="not an embedding model"):
        await load_search(SearchConfig(model=str(nudenet_path)), None)


async def test_the_daemon_ranks_its_events_by_likeness_and_text_and_keeps_them_across_a_restart(clip_dir, nudenet_path, tmp_path):
    clip = encode_clip(tmp_path / "cam.mp4", photo("astronaut"), frames=30, size=(320, 240), fps=10)
    config = DaemonConfig.model_validate(
        {
            "model": {"path": str(nudenet_path), "image_size": 320},
            "sources": [
                {
                    "name": "door",
                    "url": str(clip),
                    "realtime": True,
                    "loop": True,
                    "zones": [{"name": "porch", "polygon": [[100, 20], [300, 20], [300, 200], [100, 200]]}],
                }
            ],
            "sinks": [{"kind": "jsonl", "path": str(tmp_path / "r.jsonl")}],
            "search": {"model": str(clip_dir), "database": str(tmp_path / "search.sqlite")},
        }
    )
    daemon = Daemon(config, ApiConfig(port=0))
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_ready(), 60)
    base = f"http://127.0.0.1:{daemon.api_port}"
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while (search := getattr(daemon.store, "search_index", None)) is None or search.embedded < 2:
                assert time.monotonic() < deadline, "no events embedded"
                await asyncio.sleep(0.2)
            events = (await (await http.get(f"{base}/api/v1/events")).json())["events"]
            target = next(e for e in events if search.store.vector(e["id"]) is not None)
            like = await (await http.get(f"{base}/api/v1/events/search", params={"like": target["id"], "limit": "5"})).json()
            assert like["events"][0]["id"] == target["id"] and like["events"][0]["score"] == pytest.approx(1.0, abs=1e-5)
            text = await http.get(f"{base}/api/v1/events/search", params={"q": "a photo of a person", "source": "door"})
            found = (await text.json())["events"]
            assert text.status == 200 and found and all(f["source"] == "door" for f in found)
            assert [f["score"] for f in found] == sorted((f["score"] for f in found), reverse=True)
            assert (await http.get(f"{base}/api/v1/events/search")).status == 400
            assert (await http.get(f"{base}/api/v1/events/search", params={"q": "x", "like": "y"})).status == 400
            missing = await http.get(f"{base}/api/v1/events/search", params={"like": "nope"})
            assert missing.status == 404 and "nope" in (await missing.json())["error"]
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)

    # Searchable after a restart, from the SQLite file, before any new event.
    store = VectorStore(str(tmp_path / "search.sqlite"), 16, 1000)
    try:
        assert store.vector(target["id"]) is not None
    finally:
        store.close()


async def test_without_a_search_section_the_route_says_how_to_turn_it_on(nudenet_path, tmp_path):
    clip = encode_clip(tmp_path / "cam.mp4", photo("astronaut"), frames=10, size=(320, 240), fps=10)
    config = DaemonConfig.model_validate(
        {
            "model": {"path": str(nudenet_path), "image_size": 320},
            "sources": [{"name": "door", "url": str(clip)}],
            "sinks": [{"kind": "jsonl", "path": str(tmp_path / "r.jsonl")}],
        }
    )
    daemon = Daemon(config, ApiConfig(port=0))
    task = asyncio.create_task(daemon.run())
    await asyncio.wait_for(daemon.wait_ready(), 60)
    try:
        async with aiohttp.ClientSession() as http:
            answer = await http.get(f"http://127.0.0.1:{daemon.api_port}/api/v1/events/search", params={"q": "car"})
            assert answer.status == 404 and "search: {model:" in (await answer.json())["error"]
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)
