"""Frame gates: on a source's decode thread, after a frame is decoded and before it is handed to
the pipeline, each gate of the source may turn the frame away (motion gating goes here).

A gate is made for one source and keeps its own state (a background model, the last time it let
a frame through); it sees every decoded frame that sampling kept, in order, with its image (HxWx3
BGR), `pts` and `capture_time`, and answers None to let it on or a short reason to skip it.
Skipped frames are counted per reason in `source.stats.skipped`, which `/metrics` exports:

    class EveryOther:
        def __init__(self) -> None:
            self.n = 0

        def admit(self, frame: Frame) -> str | None:
            self.n += 1
            return None if self.n % 2 else "every_other"

It runs on the decode thread, so it may use CPU (no event loop waits on it), but every
millisecond it takes is a millisecond less of decoding for that source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from vigil.frame import Frame

__all__ = ["FrameGate", "GateChain"]


@runtime_checkable
class FrameGate(Protocol):
    def admit(self, frame: Frame) -> str | None:
        """None: the frame goes on; a reason (`"motion"`): it is skipped and counted under it."""
        ...


class GateChain:
    """A source's gates in order: the first one that refuses a frame decides its reason, and the
    later ones do not see it."""

    def __init__(self, gates: Sequence[FrameGate] = ()) -> None:
        self.gates = list(gates)

    def __bool__(self) -> bool:
        return bool(self.gates)

    def admit(self, frame: Frame) -> str | None:
        for gate in self.gates:
            reason = gate.admit(frame)
            if reason is not None:
                return reason
        return None
