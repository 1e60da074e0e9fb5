"""The fleet as it runs: a 3-node NATS cluster, real `vigil run` boxes with a `fleet:` section,
6 cameras on the test RTSP server (issue 29). Who ran which camera when is read back from the
boxes' JSONL (capture_time per record): failover times, dark gaps, and no camera recorded by two
boxes at once."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.fleet.harness import Fleet, double_runs, first_after, gaps

pytestmark = pytest.mark.serial

BOXES = ("a", "b", "c")


# A camera moved by hand-over is dark for under a second (0.79 s median, 1.37 s at most over 42
# hand-overs measured by bench/fleet.py on this 2-core machine under a load of 11-15): each dark
# must stay within the 3 s. Waiting out a lease instead leaves a camera dark for 2/3 of
# the lease or more. The hand-over tests run on 15 s leases, which ride through a NATS election:
# a node that returns to the cluster may set one off, and no write lands meanwhile (4-9 s), so
# the restarts around its return are held to half a lease (7.5 s), still short of a lease waited out.
RIDING_LEASE_S = 15.0
HANDOVER_S = 3.0
ELECTION_S = RIDING_LEASE_S / 2


@pytest.fixture
def fleet(tmp_path: Path, nudenet_path: Path, clips: dict[str, Path]):
    running = Fleet(tmp_path, nudenet_path, clips["coffee"]).start()
    yield running
    running.stop()


def until(condition: Callable[[], bool], what: str, fleet: Fleet, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for box in fleet.boxes.values():
            assert box.proc is None or box.proc.poll() is None or box.proc.returncode in (0, -9), box.log()
        assert time.monotonic() < deadline, f"{what}: not in {timeout}s; {fleet.running(0)}"
        time.sleep(0.2)


def spread(fleet: Fleet, boxes: tuple[str, ...], since: float) -> Counter[str]:
    running = fleet.running(since)
    return Counter(next(iter(on)) for on in running.values() if len(on) == 1 and next(iter(on)) in boxes)


def even(fleet: Fleet, boxes: tuple[str, ...], since: float) -> bool:
    running = fleet.running(since)
    if set(running) != set(fleet.cameras) or any(len(on) != 1 or not on <= set(boxes) for on in running.values()):
        return False
    counts = spread(fleet, boxes, since)
    return set(counts) <= set(boxes) and max(counts.values()) - min(counts[b] for b in boxes) <= 1


def reconnected(fleet: Fleet) -> bool:
    """Every box that lost its NATS connection has it again (from their logs; a second's wait
    first, for the losses to be seen)."""
    time.sleep(1.0)
    logs = [box.log(tail=10**7) for box in fleet.boxes.values()]
    return all(log.count("fleet: disconnected from NATS") <= log.count("fleet: reconnected to NATS") for log in logs)


def start_three(fleet: Fleet) -> float:
    started = time.time()
    for box in BOXES:
        fleet.add_box(box)
    until(lambda: even(fleet, BOXES, started), "6 cameras evenly on 3 boxes", fleet, timeout=120)
    return started


def test_sigkill_one_box_its_cameras_run_elsewhere_within_10s(fleet: Fleet) -> None:
    started = start_three(fleet)
    settled = time.time()
    victims = sorted(c for c, on in fleet.running(started).items() if on == {"a"})
    killed = fleet.signal("a", signal.SIGKILL)
    until(lambda: even(fleet, ("b", "c"), killed + 1), "the cameras on b and c, evenly", fleet, timeout=60)
    records = fleet.records()
    failover = {camera: first_after(records, camera, killed, {"b", "c"}) for camera in victims}
    times = {camera: round(at - killed, 2) for camera, at in failover.items() if at is not None}
    print("failover after SIGKILL, s per camera:", times)
    assert len(times) == len(victims) == 2 and max(times.values()) <= 10.0, times
    assert double_runs(records, settled) == []


def test_sigterm_hands_the_cameras_over(riding_fleet: Fleet) -> None:
    fleet = riding_fleet
    started = start_three(fleet)
    settled = time.time()
    leaving = sorted(c for c, on in fleet.running(started).items() if on == {"a"})
    stopped = fleet.signal("a", signal.SIGTERM)
    box = fleet.boxes["a"]
    assert box.proc is not None and box.proc.wait(60) == 0, box.log()
    until(lambda: even(fleet, ("b", "c"), stopped + 1), "the cameras on b and c, evenly", fleet, timeout=60)
    records, made = fleet.records(), fleet.records(made=True)
    dark = {camera: round(gaps(made, camera, stopped - 1), 2) for camera in leaving}
    print("dark on SIGTERM hand-over, s per camera:", dark)
    assert max(dark.values()) <= HANDOVER_S, dark
    assert double_runs(records, settled) == []


def test_a_fourth_box_takes_its_share_by_hand_over(riding_fleet: Fleet) -> None:
    fleet = riding_fleet
    start_three(fleet)
    joined = time.time()
    fleet.add_box("d")
    until(lambda: even(fleet, (*BOXES, "d"), joined + 1), "6 cameras evenly on 4 boxes", fleet, timeout=120)
    time.sleep(1.0)
    records, made = fleet.records(), fleet.records(made=True)
    moved = sorted(c for c in fleet.cameras if records.get(c, {}).get("d"))
    dark = {camera: round(gaps(made, camera, joined - 1), 2) for camera in moved}
    print("dark on hand-over to a joining box, s per camera:", dark)
    assert len(moved) >= 1 and max(dark.values()) <= HANDOVER_S, dark
    assert double_runs(records, joined) == []


def test_a_box_cut_off_from_nats_stops_its_cameras_first(fleet: Fleet) -> None:
    started = time.time()
    node = fleet.cluster.nodes[2]
    fleet.add_box("a", [n.url for n in fleet.cluster.nodes[:2]])
    fleet.add_box("b", [n.url for n in fleet.cluster.nodes[:2]])
    fleet.add_box("c", [node.url])  # c talks to node 3 alone
    until(lambda: even(fleet, BOXES, started), "6 cameras evenly on 3 boxes", fleet, timeout=120)
    settled = time.time()
    theirs = sorted(c for c, on in fleet.running(started).items() if on == {"c"})
    cut = time.time()
    node.kill()
    until(lambda: even(fleet, ("a", "b"), cut + 1), "c's cameras on a and b", fleet, timeout=60)
    made = fleet.records(made=True)
    stopped = {camera: round(max(made[camera]["c"]) - cut, 2) for camera in theirs}
    taken = {camera: round((first_after(made, camera, cut, {"a", "b"}) or 0) - cut, 2) for camera in theirs}
    print("cut off: c's last result, s after the cut:", stopped, "the others' first:", taken)
    assert max(stopped.values()) < min(fleet.lease_ttl_s, *taken.values()), (stopped, taken)
    assert "before it expires" in fleet.boxes["c"].log(tail=10**7)
    node.start()  # c comes back: it rejoins and takes its share by hand-over
    back = time.time()
    until(lambda: even(fleet, BOXES, back + 1), "6 cameras evenly on 3 boxes again", fleet, timeout=90)
    time.sleep(1.0)
    assert double_runs(fleet.records(), settled) == []


@pytest.fixture
def riding_fleet(tmp_path: Path, nudenet_path: Path, clips: dict[str, Path]):
    """Leases of 15 s, as docs/SCALING.md advises for riding through a NATS election: a box
    stops its cameras only after 10 s without a renewal. Hand-overs (SIGTERM) do not wait for
    leases to expire, so they are as quick as with 6 s leases."""
    running = Fleet(tmp_path, nudenet_path, clips["coffee"], lease_ttl_s=RIDING_LEASE_S).start()
    yield running
    running.stop()


def test_rolling_restart_with_a_nats_node_restarted_meanwhile(riding_fleet: Fleet) -> None:
    # A node's loss or return can set off a raft election (4-10 s on a loaded 2-core machine,
    # when no renewal lands); with 6 s leases that stops every camera, safely (see SCALING.md).
    fleet = riding_fleet
    started = start_three(fleet)
    settled = time.time()
    node = fleet.follower()
    node.kill()  # one NATS node down for the first restarts: the buckets keep their quorum
    until(lambda: reconnected(fleet), "the boxes that were on the node reconnected", fleet, timeout=30)
    steady: dict[str, float] = {}  # camera -> its longest dark in the restarts before the node returns
    for i, name in enumerate(BOXES):
        stopped = fleet.signal(name, signal.SIGTERM)
        box = fleet.boxes[name]
        assert box.proc is not None and box.proc.wait(60) == 0, box.log()
        others = tuple(b for b in BOXES if b != name)
        until(lambda: even(fleet, others, stopped + 1), f"the cameras on {others}", fleet, timeout=60)
        fleet.add_box(name)
        back = time.time()
        until(lambda: even(fleet, BOXES, back + 1), f"{name} back with its share", fleet, timeout=120)
        if i < 2:  # a restart made with the node down: 2 of 3 nodes, steady
            made = fleet.records(made=True)
            for camera in fleet.cameras:
                steady[camera] = max(steady.get(camera, 0.0), round(gaps(made, camera, stopped - 1, time.time()), 2))
        if i == 1:
            node.start()
    time.sleep(1.0)
    records, made = fleet.records(), fleet.records(made=True)
    dark = {camera: round(gaps(made, camera, started + 1), 2) for camera in fleet.cameras}
    print("rolling restart: longest dark, s per camera, with the node down:", steady, "over all:", dark)
    assert max(steady.values()) <= HANDOVER_S, steady
    assert max(dark.values()) <= ELECTION_S, dark
    assert double_runs(records, settled) == []
