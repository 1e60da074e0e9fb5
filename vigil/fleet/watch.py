"""Waking the fleet agent's reconciler when the cameras, members or leases change: KV watches
(ordered consumers), made again every `RENEW_S` and after any failure, since a consumer can be
lost without a word while a node of the cluster is down. The reconciler's periodic reads go on
without them: a watch only makes a hand-over quicker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from vigil.fleet.store import FleetStore

__all__ = ["RENEW_S", "watch_buckets"]

log = logging.getLogger(__name__)

RENEW_S = 30.0
_KINDS = ("cameras", "members", "leases")


async def watch_buckets(store: FleetStore, wake: asyncio.Event) -> None:
    """Set `wake` on every change, for ever (until cancelled)."""
    while True:
        try:
            await asyncio.wait_for(_watch_once(store, wake), RENEW_S)
        except asyncio.TimeoutError:
            continue  # made again: a consumer lost silently is replaced
        except Exception as exc:  # noqa: BLE001 - NATS unreachable or a consumer refused: try again soon
            log.debug("fleet: watch failed (%s: %s); again in 1 s", type(exc).__name__, exc)
            await asyncio.sleep(1.0)


async def _watch_once(store: FleetStore, wake: asyncio.Event) -> None:
    watchers: list[Any] = []
    pending: list[asyncio.Future[Any]] = []
    try:
        for kind in _KINDS:
            watchers.append(await store.bucket(kind).watchall())
        pending = [asyncio.ensure_future(w.updates(timeout=RENEW_S * 2)) for w in watchers]
        while True:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                index = pending.index(future)
                future.result()
                pending[index] = asyncio.ensure_future(watchers[index].updates(timeout=RENEW_S * 2))
            wake.set()
    finally:
        for future in pending:
            future.cancel()
        for watcher in watchers:
            with contextlib.suppress(Exception):
                await watcher.stop()
