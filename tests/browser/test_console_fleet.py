"""The console's fleet page in Chromium, against a real `vigil run` box with `fleet:` and a real
nats-server: the camera of the fleet's bucket the box took is listed as running on this box
(linked to its camera page), the box alive with its capacity, and the move that put it there."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import Browser
from tests.browser.daemon import Vigil, free_port, start_vigil, stop_vigil
from tests.conftest import encode_clip, photo
from tests.support.nats_server import NatsServer, wait_for_jetstream
from vigil.config.fleet import FleetConfig
from vigil.fleet.store import FleetStore


@pytest.fixture(scope="module")
def fleet_box(tmp_path_factory: pytest.TempPathFactory, nudenet_path: Path) -> Iterator[Vigil]:
    folder = tmp_path_factory.mktemp("fleet-console")
    node = NatsServer(folder / "nats").start()
    clip = encode_clip(folder / "porch.mp4", photo("astronaut"), frames=20, size=(320, 240), fps=10)

    async def declare() -> None:
        await wait_for_jetstream([node.url])
        store = await FleetStore.connect(FleetConfig.model_validate({"servers": [node.url], "box": "admin"}))
        try:
            await store.put_camera("porch", {"url": str(clip), "loop": True, "realtime": True, "max_fps": 5})
        finally:
            await store.close()

    asyncio.run(declare())
    port = free_port()
    config = (
        f"model: {{path: {nudenet_path}, image_size: 320}}\nsources: []\n"
        f"sinks: [{{kind: jsonl, path: {folder / 'out.jsonl'}}}]\n"
        f"api: {{port: {port}}}\n"
        f"fleet: {{servers: ['{node.url}'], box: box-a, capacity: {{cameras: 4}}}}\n"
    )
    vigil = start_vigil(folder, config, port)
    try:
        yield vigil
    finally:
        stop_vigil(vigil, keep_log_as="fleet-console")
        node.stop()


def test_the_fleet_page_lists_the_box_its_camera_and_the_move(fleet_box: Vigil, browser: Browser) -> None:
    fleet_box.wait_for(lambda: fleet_box.api("/api/v1/fleet")["cameras"][0]["box"] == "box-a", "porch taken by box-a")
    browser.driver.get(fleet_box.base + "/#/fleet")

    def row(selector: str) -> str:
        return str(browser.script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", selector))

    camera = browser.until(
        "porch's row, run by this box",
        lambda _: "this box" in row('tr.camera[data-camera="porch"]') and row('tr.camera[data-camera="porch"]'),
    )
    assert "box-a (this box)" in camera and "porch.mp4" in camera
    link = browser.script("return document.querySelector('tr.camera[data-camera=\"porch\"] a').getAttribute('href')")
    assert link == "#/camera/porch"
    box = row('tr.box[data-box="box-a"]')
    assert "alive" in box.lower() and "4 cameras" in box and "porch" in box, box
    moves = browser.until("the move that put porch on box-a", lambda _: row("tr.move"))
    assert "porch" in moves and "box-a" in moves, moves
    assert "1 cameras on 1 boxes alive; 0 unassigned. This is box box-a." == row("p.summary")
    browser.shot("fleet")
