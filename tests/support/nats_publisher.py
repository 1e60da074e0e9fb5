"""A vigil process publishing events to NATS through the real `NatsSink` and its spool, for the
test that SIGKILLs it: events 0..COUNT-1 of camera `cam` go to the spool in order; with
`--hang-after N`, the sender publishes the batches holding the first N events (each acknowledged
by JetStream) and then hangs before the spool acks that batch, printing `published TOTAL BATCH`, so a
SIGKILL lands between JetStream storing records and the spool forgetting them. Run again without
it on the same spool, it sends what the spool kept and prints `done DELIVERED DUPLICATES`.

    python tests/support/nats_publisher.py URL SPOOL COUNT [--hang-after N]
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.results import T0  # noqa: E402
from vigil.events import Event  # noqa: E402
from vigil.sinks._delivery import Reply  # noqa: E402
from vigil.sinks.durable import DeliveryOptions  # noqa: E402
from vigil.sinks.nats import NatsOptions, NatsSink  # noqa: E402
from vigil.sinks.spool import SpoolRecord  # noqa: E402


def event(seq: int) -> Event:
    return Event("zone_enter", "cam", seq, "FACE_FEMALE", 0, T0 + timedelta(seconds=seq / 30), seq, zone="door")


class HangingSink(NatsSink):
    """Hangs, after JetStream acknowledged them, in the send holding event `hang_after - 1`."""

    hang_after = 0
    spooled: asyncio.Event

    async def send(self, records: list[SpoolRecord]) -> Reply:
        if self.hang_after:
            await self.spooled.wait()  # every event is on disk before the first is sent
        reply = await super().send(records)
        if self.hang_after and self.delivered + len(records) >= self.hang_after:
            print(f"published {self.delivered + len(records)} {len(records)}", flush=True)
            await asyncio.Event().wait()  # SIGKILL arrives here
        return reply


async def main(url: str, spool: str, count: int, hang_after: int) -> None:
    sink = HangingSink(NatsOptions((url,), delivery=DeliveryOptions(batch_max=10)), spool, name="fleet")
    sink.hang_after, sink.spooled = hang_after, asyncio.Event()
    await sink.start()
    for seq in range(count if hang_after else 0):
        await sink.publish_event(event(seq))
    sink.spooled.set()
    await sink.flush(20)
    await sink.close()
    print(f"done {sink.delivered} {sink.duplicates}", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    hang = int(args[args.index("--hang-after") + 1]) if "--hang-after" in args else 0
    asyncio.run(main(args[0], args[1], int(args[2]), hang))
