"""`Fanout.cameras`: every sink hears of the cameras that route to it, a sink that fails is logged
and the others are still told, and a sink swapped in later hears of them at once."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from vigil.pipeline.fanout import Fanout
from vigil.result import InferenceResult
from vigil.sinks.base import CameraStatus, Sink


class Told(Sink):
    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.fail = name, fail
        self.sets: list[list[str]] = []

    async def publish(self, result: InferenceResult) -> None: ...

    async def cameras(self, cameras: Sequence[CameraStatus]) -> None:
        if self.fail:
            raise RuntimeError("broken bookkeeping")
        self.sets.append([c.name for c in cameras])

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


CAMERAS = [CameraStatus("gate", "streaming", 5.0, ("door",)), CameraStatus("yard", "reconnecting")]


async def test_each_sink_hears_of_the_cameras_routed_to_it_and_a_failing_one_stops_nobody(caplog):
    broken, mqtt, jsonl = Told("broken", fail=True), Told("mqtt"), Told("jsonl")
    fanout = Fanout([broken, mqtt, jsonl])
    fanout.routes = {"yard": frozenset({"jsonl"})}
    await fanout.cameras(CAMERAS)  # not started yet: nobody is told
    assert mqtt.sets == [] and jsonl.sets == []
    await fanout.start()
    with caplog.at_level(logging.ERROR):
        await fanout.cameras(CAMERAS)
    assert mqtt.sets == [["gate"]] and jsonl.sets == [["gate", "yard"]]
    assert any("sink 'broken'" in r.getMessage() for r in caplog.records)

    late = Told("mqtt")
    await fanout.replace({"mqtt": late})
    assert late.sets == [["gate"]]  # at once, not at the daemon's next tick
    await fanout.close()


async def test_a_sink_without_the_hook_is_told_nothing_and_logs_nothing(caplog):
    class Plain(Told):
        cameras = Sink.cameras  # type: ignore[assignment]

    plain = Plain("plain")
    fanout = Fanout([plain])
    await fanout.start()
    with caplog.at_level(logging.DEBUG, logger="vigil.pipeline.fanout"):
        await fanout.cameras(CAMERAS)
    assert plain.sets == [] and not caplog.records
    await fanout.close()
