"""`DurableSender` with a transport that is not HTTP: what an MQTT or NATS sink will plug in."""

from __future__ import annotations

import asyncio
import json

from vigil.sinks._delivery import Reply, RetryTimings
from vigil.sinks._http import Backoff
from vigil.sinks.durable import DeliveryOptions, DurableSender
from vigil.sinks.spool import SpoolRecord


class FlakyBroker:
    """Refuses the first attempt (no answer), refuses record 3 for good, takes the rest."""

    def __init__(self) -> None:
        self.attempts = 0
        self.taken: list[int] = []

    async def send(self, records: list[SpoolRecord]) -> Reply:
        self.attempts += 1
        if self.attempts == 1:
            return Reply(None, "broker away")
        numbers = [json.loads(r.payload)["n"] for r in records]
        if 3 in numbers:
            return Reply(400, "refused")
        self.taken += numbers
        return Reply(200, "ok")

    async def probe(self) -> bool:
        return True


async def test_a_non_http_transport_gets_ordered_retried_durable_delivery(tmp_path):
    broker = FlakyBroker()
    options = DeliveryOptions(batch_max=1, timings=RetryTimings(Backoff(0.01, 0.02)))
    sender = DurableSender("mqtt-like", tmp_path / "spool", options, broker)
    await sender.start()
    for n in range(5):
        await sender.append(lambda n=n: json.dumps({"n": n}).encode())
    await sender.flush(timeout=5)
    stats = sender.stats()
    await sender.close()
    assert broker.taken == [0, 1, 2, 4]  # in order; 3 went to the dead letters
    assert (stats.published, stats.backlog, stats.errors, stats.last_error) == (4, 0, 2, "refused")  # the latest
    [dead] = (tmp_path / "spool" / "dead-letter.jsonl").read_text().splitlines()
    assert json.loads(dead)["result"] == {"n": 3} and json.loads(dead)["status"] == 400


class BuggyBroker:
    """Raises (a bug in the transport) on its second batch, once; takes everything else."""

    def __init__(self) -> None:
        self.batches = 0
        self.taken: list[int] = []

    async def send(self, records: list[SpoolRecord]) -> Reply:
        self.batches += 1
        if self.batches == 2:
            raise RuntimeError("a bug")
        self.taken += [json.loads(r.payload)["n"] for r in records]
        return Reply(200, "ok")

    async def probe(self) -> bool:
        return True


async def test_a_bug_in_the_sender_is_unhealthy_for_a_while_then_delivery_starts_over(tmp_path, monkeypatch):
    monkeypatch.setattr("vigil.sinks.durable._RESTART_S", 0.3, raising=False)
    broker = BuggyBroker()
    sender = DurableSender("buggy", tmp_path / "spool", DeliveryOptions(batch_max=2), broker)
    await sender.start()
    for n in range(6):
        await sender.append(lambda n=n: json.dumps({"n": n}).encode())
    deadline = asyncio.get_running_loop().time() + 10
    health = sender.health()
    while health.ok:  # the bug is reported, not swallowed
        assert asyncio.get_running_loop().time() < deadline, "the bug never showed in health()"
        await asyncio.sleep(0.01)
        health = sender.health()
    await sender.flush(timeout=10)
    after = sender.health()
    await sender.close()
    assert "the sender failed (RuntimeError)" in (health.reason or "") and after.ok
    assert sorted(set(broker.taken)) == [0, 1, 2, 3, 4, 5]  # the batch the bug held was sent again


def test_readiness_names_why_records_were_dropped_not_always_the_cap():
    from vigil.sinks.durable import _dropped_note

    assert _dropped_note({"spool_full": 0, "disk_full": 0}) is None
    assert _dropped_note({"spool_full": 0, "disk_full": 10}) == "10 result(s) dropped (disk_full: 10)"
    assert _dropped_note({"spool_full": 2, "disk_full": 10}) == "12 result(s) dropped (spool_full: 2, disk_full: 10)"
