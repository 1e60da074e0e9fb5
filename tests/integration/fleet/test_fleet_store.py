"""FleetStore against a real nats-server: the buckets, cameras validated like the YAML, leases
taken by compare-and-set (two boxes racing: one wins), renewals that fail once the lease is lost,
expiry by the bucket's max_age, moves newest first."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.support.nats_server import NatsCluster, NatsServer, wait_for_jetstream
from vigil.config.fleet import FleetConfig
from vigil.errors import ConfigError
from vigil.fleet.store import FleetStore, LeaseLost, Member

CAMERA = {"url": "rtsp://127.0.0.1:8554/live", "max_fps": 5}


@pytest.fixture
def server(tmp_path: Path):
    node = NatsServer(tmp_path / "nats").start()
    asyncio.run(wait_for_jetstream([node.url]))
    yield node
    node.stop()


def fleet(url: str | list[str], **extra: object) -> FleetConfig:
    return FleetConfig.model_validate({"servers": [url] if isinstance(url, str) else url, "box": "a", **extra})


async def test_cameras_are_validated_like_the_yaml(server: NatsServer) -> None:
    store = await FleetStore.connect(fleet(server.url))
    try:
        await store.put_camera("door", CAMERA)
        assert await store.cameras() == {"door": CAMERA}
        with pytest.raises(ConfigError, match="camera 'yard'.*max_fps"):
            await store.put_camera("yard", {"url": "rtsp://127.0.0.1/x", "max_fps": -1})
        with pytest.raises(ConfigError, match="camera 'a..b'"):
            await store.put_camera("a..b", CAMERA)
        assert await store.delete_camera("door") is True
        assert await store.delete_camera("door") is False
        assert await store.cameras() == {}
    finally:
        await store.close()


async def test_buckets_are_made_once_and_opened_again(server: NatsServer) -> None:
    first = await FleetStore.connect(fleet(server.url, lease_ttl_s=4))
    await first.put_camera("door", CAMERA)
    second = await FleetStore.connect(fleet(server.url, lease_ttl_s=4))  # the buckets exist: used as they are
    try:
        assert await second.cameras() == {"door": CAMERA}
        status = await second.bucket("leases").status()
        assert status.ttl == pytest.approx(4.0)
        assert (await second.bucket("cameras").status()).ttl in (None, 0, 0.0)
    finally:
        await first.close()
        await second.close()


async def test_two_boxes_racing_for_a_lease_one_wins(server: NatsServer) -> None:
    stores = [await FleetStore.connect(fleet(server.url)) for _ in range(4)]
    try:
        for round_ in range(5):
            camera = f"cam{round_}"
            won = await asyncio.gather(*(s.take(camera, f"box{i}") for i, s in enumerate(stores)))
            winners = [lease for lease in won if lease is not None]
            assert len(winners) == 1, won
            held = (await stores[0].leases())[camera]
            assert held.box == winners[0].box and held.revision == winners[0].revision
    finally:
        for store in stores:
            await store.close()


async def test_renewal_keeps_a_lease_and_fails_once_it_is_lost(server: NatsServer) -> None:
    a = await FleetStore.connect(fleet(server.url))
    b = await FleetStore.connect(fleet(server.url))
    try:
        lease = await a.take("door", "a")
        assert lease is not None
        lease = await a.renew(lease)
        assert await b.take("door", "b") is None
        await a.release(lease)  # handed over: the other takes it at once
        taken = await b.take("door", "b")
        assert taken is not None and (await a.leases())["door"].box == "b"
        with pytest.raises(LeaseLost):
            await a.renew(lease)  # its revision is gone
        await a.release(lease)  # no longer ours: b's lease stays
        assert (await a.leases())["door"].box == "b"
    finally:
        await a.close()
        await b.close()


async def test_a_lease_not_renewed_expires_and_members_expire_too(server: NatsServer) -> None:
    store = await FleetStore.connect(fleet(server.url, bucket_prefix="ttl", lease_ttl_s=1, member_ttl_s=1))
    try:
        assert await store.take("door", "a") is not None
        await store.heartbeat(Member(box="a", capacity={"cameras": 2, "fps": None}, cameras=["door"]))
        members = await store.members()
        assert members["a"].capacity == {"cameras": 2, "fps": None} and members["a"].cameras == ["door"]
        deadline = time.monotonic() + 30
        while (await store.leases() or await store.members()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await store.leases() == {} and await store.members() == {}
        assert await store.take("door", "b") is not None  # free again
    finally:
        await store.close()


async def test_moves_newest_first(server: NatsServer) -> None:
    store = await FleetStore.connect(fleet(server.url))
    try:
        assert await store.moves() == []
        for i in range(4):
            await store.record_move(f"cam{i}", "a", "b", "hand-over")
            await asyncio.sleep(0.01)
        moves = await store.moves(limit=3)
        assert [m.camera for m in moves] == ["cam3", "cam2", "cam1"]
        assert moves[0].to_json()["from"] == "a" and moves[0].reason == "hand-over"
    finally:
        await store.close()


async def test_buckets_on_a_cluster_keep_three_replicas(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path / "cluster").start()
    try:
        await wait_for_jetstream(cluster.urls)
        store = await FleetStore.connect(fleet(cluster.urls))
        try:
            js = store.nc.jetstream()
            for kind in ("cameras", "members", "leases", "moves"):
                info = await js.stream_info(f"KV_vigil_fleet_{kind}")
                assert info.config.num_replicas == 3, kind
        finally:
            await store.close()
    finally:
        cluster.stop()


def test_config_refuses_credentials_in_urls_and_two_ways() -> None:
    with pytest.raises(ValueError, match="holds credentials"):
        FleetConfig.model_validate({"servers": ["nats://u:p@127.0.0.1:4222"]})
    with pytest.raises(ValueError, match="authenticate one way only"):
        FleetConfig.model_validate({"servers": ["nats://127.0.0.1"], "user": "u", "password_file": "/p", "token_file": "/t"})
    with pytest.raises(ValueError, match="box"):
        FleetConfig.model_validate({"servers": ["nats://127.0.0.1"], "box": "a b"})
