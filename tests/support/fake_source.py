"""`MemorySource`: frames from memory for the runner's own tests, no video file or decoder.

Frame `seq` carries its number in its pixels (`fake_model.frame_image`), so `FakeDetector`
answers for exactly that frame. A source gives `frames` frames and ends, or with
`frames=None` runs until stopped, `interval_s` apart; `live` makes it a camera to the batcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

from tests.support.fake_model import frame_image
from vigil.errors import SourceOpenError
from vigil.frame import Frame
from vigil.sources.base import Source, SourceState

__all__ = ["MemorySource"]

T0 = datetime(2026, 11, 29, 5, 0, tzinfo=timezone.utc)


class MemorySource(Source):
    def __init__(
        self,
        source_id: str,
        frames: int | None = 10,
        *,
        interval_s: float = 0.0,
        live: bool = False,
        fail_to_open: bool = False,
    ) -> None:
        super().__init__()
        self.source_id = source_id
        self.frames, self.interval_s, self.live = frames, interval_s, live
        self.fail_to_open = fail_to_open
        self.expected_frames = frames
        self.given = 0
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.fail_to_open:
            self._set_state(SourceState.FAILED, "cannot open")
            raise SourceOpenError(f"source '{self.source_id}': cannot open (a fake failure)")
        self._set_state(SourceState.STREAMING)

    async def stop(self) -> None:
        self._stopped.set()

    def __aiter__(self) -> AsyncIterator[Frame]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[Frame]:
        seq = 0
        while (self.frames is None or seq < self.frames) and not self._stopped.is_set():
            pts = seq * (self.interval_s or 1 / 30)
            self.stats.decoded += 1
            self.stats.emitted += 1
            yield Frame(self.source_id, seq, pts, T0 + timedelta(seconds=pts), frame_image(seq))
            self.given = seq = seq + 1
            await asyncio.sleep(self.interval_s)
        self._set_state(SourceState.ENDED)
