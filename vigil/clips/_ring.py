"""The pre-roll ring: a camera's latest encoded packets, whole GOPs from a key frame."""

from __future__ import annotations

from collections import deque

from vigil.packet import Packet

__all__ = ["PacketRing"]


class PacketRing:
    """The packets of the last `keep_s` seconds (from the key frame at or before that moment),
    never more than `max_bytes`: whole GOPs, the oldest dropped first. A GOP alone larger than
    `max_bytes` is dropped too, and packets wait for the next key frame (nothing decodable can
    start without one).

        ring = PacketRing(keep_s=10, max_bytes=32 << 20)
        ring.add(packet)
        ring.since(start_pts - pre_roll_s)  # from a key frame
    """

    def __init__(self, keep_s: float, max_bytes: int) -> None:
        self.keep_s, self.max_bytes = keep_s, max_bytes
        self._gops: deque[list[Packet]] = deque()
        self.bytes = 0

    def __len__(self) -> int:
        return sum(len(gop) for gop in self._gops)

    def add(self, packet: Packet) -> None:
        if packet.key:
            self._gops.append([packet])
        elif self._gops:
            self._gops[-1].append(packet)
        else:
            return  # no key frame to decode it from
        self.bytes += len(packet.data)
        self._trim(packet.pts)

    def clear(self) -> None:
        self._gops.clear()
        self.bytes = 0

    def since(self, pts: float, *, until: float | None = None) -> list[Packet]:
        """The packets from the first key frame at or after `pts`, when one comes by `until`
        (default: any), else from the last key frame before it (the clip then starts a little
        earlier); the oldest held when the ring does not reach back to `pts`."""
        if not self._gops:
            return []
        starts = [gop[0].pts for gop in self._gops]
        at = next((i for i, start in enumerate(starts) if start >= pts), None)
        if at is None or (until is not None and starts[at] > until):
            before = [i for i, start in enumerate(starts) if start < pts]
            at = before[-1] if before else 0
        return [packet for gop in list(self._gops)[at:] for packet in gop]

    def _trim(self, newest: float) -> None:
        # Keep the GOP that holds `newest - keep_s`: drop a GOP only once the next one starts by then.
        while len(self._gops) > 1 and self._gops[1][0].pts <= newest - self.keep_s:
            self._drop_oldest()
        while self.bytes > self.max_bytes and self._gops:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        gop = self._gops.popleft()
        self.bytes -= sum(len(packet.data) for packet in gop)
