"""The pre-roll ring: whole GOPs from a key frame, the last `keep_s` seconds, never more than
`max_bytes` (the oldest GOPs go first)."""

from __future__ import annotations

import pytest

from vigil.clips._ring import PacketRing
from vigil.packet import Packet as ClipPacket

FPS, GOP = 10, 5  # a key frame every half second


def packet(n: int, size: int = 100) -> ClipPacket:
    return ClipPacket(bytes(size), n / FPS, n / FPS, n % GOP == 0, 1 / FPS)


def filled(ring: PacketRing, frames: int, size: int = 100) -> PacketRing:
    for n in range(frames):
        ring.add(packet(n, size))
    return ring


def test_the_ring_keeps_the_last_seconds_from_the_key_frame_before_them():
    ring = filled(PacketRing(keep_s=1.0, max_bytes=1 << 20), 40)  # 4 s
    held = ring.since(0.0)
    # newest 3.9: the GOP holding 2.9 starts at 2.5, so 2.5 .. 3.9 stay
    assert held[0].key and held[0].pts == pytest.approx(2.5)
    assert len(held) == 15 and ring.bytes == 15 * 100


def test_the_ring_never_holds_more_than_its_bytes_dropping_whole_gops():
    ring = filled(PacketRing(keep_s=60.0, max_bytes=1200), 40)
    held = ring.since(0.0)
    assert ring.bytes <= 1200 and held[0].key
    assert held[-1].pts == pytest.approx(3.9)  # the newest stay
    assert len(held) == 10  # two GOPs of 500 bytes fit, a third would not


def test_a_gop_alone_bigger_than_the_ring_is_dropped_and_packets_wait_for_a_key_frame():
    ring = PacketRing(keep_s=60.0, max_bytes=250)
    for n in range(4):
        ring.add(packet(n))
    assert ring.bytes == 0 and ring.since(0.0) == []
    ring.add(packet(5))  # a key frame starts again
    assert [p.pts for p in ring.since(0.0)] == [0.5]


@pytest.mark.parametrize(
    "wanted, until, first",
    [
        (1.2, None, 1.5),  # the first key frame at or after the moment: at most pre-roll before
        (1.5, None, 1.5),
        (1.2, 1.4, 1.0),  # none by `until` (the object's first sighting): the one before
        (-5.0, None, 0.0),  # the ring does not reach back that far: its oldest
        (9.0, None, 3.5),  # after everything held: the last GOP
    ],
)
def test_since_starts_at_a_key_frame(wanted, until, first):
    ring = filled(PacketRing(keep_s=60.0, max_bytes=1 << 20), 40)
    held = ring.since(wanted, until=until)
    assert held[0].key and held[0].pts == pytest.approx(first)
    assert held[-1].pts == pytest.approx(3.9)


def test_packets_before_the_first_key_frame_are_not_kept():
    ring = PacketRing(keep_s=60.0, max_bytes=1 << 20)
    for n in range(3, 8):
        ring.add(packet(n))
    assert [round(p.pts, 1) for p in ring.since(0.0)] == [0.5, 0.6, 0.7]
