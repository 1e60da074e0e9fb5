"""`FleetAgent`: the reconciler a daemon with `fleet:` runs beside its pipeline.

Three tasks over one `FleetStore`:
- the renewer heartbeats this box's member entry and renews its leases every third of their
  TTL (retrying every half second when a renewal fails);
- the guard stops a camera whose lease was not renewed in time: at its last successful renewal
  (the moment the request was sent, never later than the server's) plus two thirds of the TTL,
  so the camera is stopped a third of the TTL before the lease can expire and another box take it;
- the reconciler reads the buckets (on every change it watches, and at least every
  `READ_EVERY_S`: a watch lost while a NATS node is down delays a hand-over that much at most),
  computes the assignment (`vigil.fleet.assign`), hands over the cameras that are now another
  live box's (stops them, then deletes their leases: the old holder stops first) and takes the
  ones that are its own and free (the lease created by compare-and-set, then the camera started
  through the daemon's `add_stream`). The box joins (heartbeats) once warm (`vigil.fleet.warm`).

`leave()` (the daemon's SIGTERM): the member entry says `leaving` first (the others stop
assigning this box anything), then each camera is stopped and its lease deleted as soon as it
stopped, so the others take it at once, and the member entry is deleted last.
Cameras named like one of the box's own YAML `sources:` are left to the YAML.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Any

from vigil.config.fleet import FleetConfig, box_name
from vigil.errors import VigilError
from vigil.fleet.assign import assign
from vigil.fleet.holding import FleetStats, Held, StreamControl, capacity_of, fallback_due, fps_of, member_of
from vigil.fleet.journal import log_started, log_stopped
from vigil.fleet.store import FleetStore, Lease, LeaseLost, Member, camera_config
from vigil.fleet.warm import warm_up, what_to_warm
from vigil.fleet.watch import watch_buckets

__all__ = ["FleetAgent", "FleetStats", "StreamControl"]

log = logging.getLogger(__name__)

READ_EVERY_S = 1.0  # (and every third of the TTL, if less)


class FleetAgent:
    def __init__(
        self,
        config: FleetConfig,
        control: StreamControl,
        *,
        local: Callable[[], Collection[str]] = frozenset,
        api_url: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.config, self.control, self.box = config, control, box_name(config)
        self._local, self._api_url = local, api_url
        self.store: FleetStore | None = None
        self.held: dict[str, Held] = {}
        self.started_at = time.time()
        self._tick = min(config.lease_ttl_s, config.member_ttl_s) / 3
        self._op_timeout = max(0.5, config.lease_ttl_s / 6)  # one KV operation of a renewal, a release
        self._lock = asyncio.Lock()  # one camera started or stopped at a time
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._watcher: asyncio.Task[None] | None = None
        self._leaving = False
        self._holders: dict[str, str] = {}  # camera -> the box last seen holding it
        self._unleased: dict[str, float] = {}  # camera -> since when nobody holds it
        self._handing_over = False  # a camera of this box's is still another's: read the buckets often
        self._failed: dict[str, float] = {}  # camera -> until when this box does not try it again
        self._moves: Counter[str] = Counter()
        self._late = self._lost = self._unassigned = 0
        self._members_alive = 1

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._main(), name=f"fleet-{self.box}")]

    async def leave(self, timeout: float = 10.0) -> None:
        """Hand every camera over and leave the fleet (SIGTERM), then close; bounded by `timeout`."""
        self._leaving = True
        await self._cancel_tasks()
        store = self.store
        try:
            await asyncio.wait_for(self._hand_all_over(store), timeout)
        except asyncio.TimeoutError:
            log.warning("fleet: handing over took longer than %.0fs; the rest of the leases expire by themselves", timeout)
        await self.close()

    async def _hand_all_over(self, store: FleetStore | None) -> None:
        """Say `leaving`, stop every camera (all before any lease could expire), then delete the
        leases and the member entry."""
        if store is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(store.heartbeat(replace(self._member(), leaving=True)), self._op_timeout)
        releases: list[asyncio.Task[None]] = []
        async with self._lock:
            held, self.held = self.held, {}
            for camera, one in held.items():
                began = time.monotonic()
                with contextlib.suppress(Exception):
                    await self.control.remove_stream(camera)
                self._moves["sigterm"] += 1
                # this camera stopped: the others may take it while the next one stops
                releases.append(
                    asyncio.create_task(self._release(camera, one.lease, ("sigterm", None), time.monotonic() - began))
                )
        log.info("fleet: box '%s' stopped its %d camera(s) and leaves the fleet", self.box, len(held))
        if store is None:
            return
        await asyncio.gather(*releases, return_exceptions=True)
        await asyncio.gather(*(self._record(camera, self.box, None, "sigterm") for camera in held), return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(store.leave(self.box), self._op_timeout)

    async def _release(self, camera: str, lease: Lease | None, why: tuple[str, str | None], stop_s: float) -> None:
        """Delete the lease of `camera`, stopped in `stop_s` (None: leave it) and log the stop."""
        began, released, store = time.monotonic(), False, self.store
        try:
            if store is not None and lease is not None:
                await asyncio.wait_for(store.release(lease), self._op_timeout)
                released = True
        except Exception:  # it expires by itself
            log.debug("fleet: releasing '%s' failed", camera, exc_info=True)
        log_stopped(camera, *why, stop_s, time.monotonic() - began, released)

    async def close(self) -> None:
        """Stop the tasks and the connection (the cameras are left to the daemon's shutdown)."""
        self._leaving = True
        await self._cancel_tasks()
        if self.store is not None:
            await self.store.close()

    async def _cancel_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def stats(self) -> FleetStats:
        connected = self.store is not None and self.store.connected
        return FleetStats(
            dict(self._moves), self._late, self._lost, self._unassigned, self._members_alive, len(self.held), connected
        )

    # -- the tasks --------------------------------------------------------------------------

    async def _main(self) -> None:
        wait = 0.5
        while self.store is None:
            try:
                self.store = await FleetStore.connect(
                    self.config,
                    reconnected_cb=self._on_reconnected,
                    disconnected_cb=self._on_disconnected,
                    error_cb=self._on_error,
                )
            except Exception as exc:  # noqa: BLE001 - any refusal (no server, no JetStream yet): try again
                log.warning("fleet: cannot reach NATS %s (%s); trying again in %.0fs", ", ".join(self.config.servers), exc, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 5.0)
        await self._warm_up()
        log.info("fleet: box '%s' joined (buckets %s_*)", self.box, self.config.bucket_prefix)
        self._tasks += [
            asyncio.create_task(self._renewer(), name="fleet-renew"),
            asyncio.create_task(self._guard(), name="fleet-guard"),
        ]
        self._start_watch()
        await self._reconciler()

    async def _warm_up(self) -> None:
        """What the cameras' first start does the first time, off the event loop, before this box
        heartbeats: the others hand it nothing meanwhile (vigil.fleet.warm)."""
        assert self.store is not None
        try:
            cameras = await asyncio.wait_for(self.store.cameras(), 4 * self._op_timeout)
            done = await asyncio.to_thread(warm_up, what_to_warm(cameras))
            log.debug("fleet: warmed up (%s)", ", ".join(done) or "nothing to import")
        except Exception as exc:  # noqa: BLE001 - a camera's first start does it on the loop instead
            log.info("fleet: could not warm up before joining (%s: %s)", type(exc).__name__, exc)

    async def _on_disconnected(self) -> None:
        if not self._leaving:
            log.warning("fleet: disconnected from NATS; cameras whose leases cannot be renewed stop in time")

    async def _on_error(self, exc: Exception) -> None:
        log.debug("fleet: NATS client: %s: %s", type(exc).__name__, exc)

    async def _on_reconnected(self) -> None:
        log.info("fleet: reconnected to NATS")
        self._wake.set()
        if not self._leaving and self.store is not None:
            self._start_watch()

    def _start_watch(self) -> None:
        """(Again, after a reconnection: the old watch may have lost its consumer.)"""
        if self._watcher is not None:
            self._watcher.cancel()
        assert self.store is not None
        self._watcher = asyncio.create_task(watch_buckets(self.store, self._wake), name="fleet-watch")
        self._tasks.append(self._watcher)

    async def _reconciler(self) -> None:
        while not self._leaving:
            self._wake.clear()
            try:
                await self._round()
            except Exception as exc:  # noqa: BLE001 - NATS unreachable, a slow answer: the next round tries again
                log.info("fleet: could not read the fleet's buckets (%s: %s); trying again", type(exc).__name__, exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(self._tick, 0.25 if self._handing_over else READ_EVERY_S))
            await asyncio.sleep(0.05)  # a burst of changes is one round

    async def _renewer(self) -> None:
        while not self._leaving:
            ok = await self._renew_all()
            await asyncio.sleep(self._tick if ok else min(0.5, self._tick))

    async def _renew_all(self) -> bool:
        """Heartbeat and renew every lease; False when something failed (try again soon)."""
        store, ok = self.store, True
        assert store is not None
        try:
            await asyncio.wait_for(store.heartbeat(self._member()), self._op_timeout)
        except Exception:  # noqa: BLE001 - unreachable: the member entry expires, the others take over
            ok = False
        for camera, held in list(self.held.items()):
            sent = time.monotonic()
            try:
                lease = await asyncio.wait_for(store.renew(held.lease), self._op_timeout)
            except LeaseLost:
                log.warning("fleet: the lease of '%s' is no longer ours; stopping it", camera)
                self._lost += 1
                await self._give_up(camera, "lease_lost", None, release=False)
                continue
            except Exception:  # noqa: BLE001 - slow or unreachable: the guard watches the deadline
                ok = False
                continue
            if self.held.get(camera) is held:
                self._late += sent - held.renewed_at > 2 * self._tick  # a third of the TTL past its time
                held.lease, held.renewed_at = lease, sent
            else:  # stopped by the guard meanwhile: not ours to keep
                with contextlib.suppress(Exception):
                    await store.release(lease)
        return ok

    async def _guard(self) -> None:
        """Stop a camera before its lease can expire when its renewals fail."""
        limit = self.config.lease_ttl_s * 2 / 3
        while not self._leaving:
            now = time.monotonic()
            for camera, held in list(self.held.items()):
                if now - held.renewed_at > limit and self.held.get(camera) is held:
                    log.warning(
                        "fleet: lease of '%s' not renewed for %.1fs; stopping the camera before it expires",
                        camera,
                        now - held.renewed_at,
                    )
                    self._lost += 1
                    await self._give_up(camera, "lease_lost", None, record=False)
            await asyncio.sleep(min(0.2, self._tick / 4))

    # -- a round of reconciling -------------------------------------------------------------

    async def _round(self) -> None:
        store = self.store
        assert store is not None
        cameras, members, leases = await store.cameras(), await store.members(), await store.leases()
        members.setdefault(self.box, self._member())  # we read the buckets: we are alive
        self._members_alive = len(members)
        local = set(self._local())
        fleet = {name: entry for name, entry in cameras.items() if name not in local}
        staying = {b: capacity_of(m) for b, m in members.items() if not m.leaving}
        wanted = assign({n: fps_of(e) for n, e in fleet.items()}, staying)
        await self._let_go(fleet, wanted, {b: m for b, m in members.items() if not m.leaving})
        if not self._leaving:
            await self._take(fleet, wanted, members, leases)
        now = time.monotonic()
        self._unleased = {c: self._unleased.get(c, now) for c in cameras if c not in leases and c not in self.held}
        self._unassigned = len(self._unleased)
        self._holders.update({c: lease.box for c, lease in leases.items()})

    async def _let_go(
        self, fleet: Mapping[str, dict[str, Any]], wanted: Mapping[str, str | None], members: Mapping[str, Member]
    ) -> None:
        for camera, held in list(self.held.items()):
            if camera not in fleet:
                await self._give_up(camera, "removed", None)
            elif wanted.get(camera) is None:
                await self._give_up(camera, "no_capacity", None)
            elif wanted[camera] != self.box and wanted[camera] in members:
                await self._give_up(camera, "handover", wanted[camera])
            elif fleet[camera] != held.entry:
                await self._restart(camera, fleet[camera])

    async def _take(
        self,
        fleet: Mapping[str, dict[str, Any]],
        wanted: Mapping[str, str | None],
        members: Mapping[str, Member],
        leases: Mapping[str, Lease],
    ) -> None:
        now = time.monotonic()
        self._handing_over = any(wanted.get(c) == self.box and leases[c].box != self.box for c in leases if c in fleet)
        for camera in sorted(fleet):
            orphan = leases.get(camera)  # this box's from before a restart or a lost acknowledgement
            if camera in self.held or (orphan and orphan.box != self.box) or self._failed.get(camera, 0.0) > now:
                continue
            if wanted.get(camera) != self.box and not self._fallback(camera, fleet[camera], wanted.get(camera), members, now):
                continue
            await self._start(camera, fleet[camera], members, orphan)

    def _fallback(
        self, camera: str, entry: Mapping[str, Any], assigned: str | None, members: Mapping[str, Member], now: float
    ) -> bool:
        """A camera its box has not taken for long (it cannot run it): the next boxes in its
        rendezvous order take it, one after another, a lease TTL apart (`fallback_due`)."""
        waited = now - self._unleased.get(camera, now)
        return fallback_due(camera, fps_of(entry), assigned, members, self.box, self.held, self.config, waited)

    async def _start(self, camera: str, entry: dict[str, Any], members: Mapping[str, Member], orphan: Lease | None) -> None:
        store = self.store
        assert store is not None
        try:
            config = camera_config(camera, entry)
        except VigilError as exc:
            log.error("fleet: %s", exc)
            self._failed[camera] = time.monotonic() + 60
            return
        sent = time.monotonic()
        lease = await (store.adopt(orphan) if orphan else store.take(camera, self.box))
        if lease is None:
            return
        leased = time.monotonic()
        async with self._lock:
            try:
                await self.control.add_stream(config)
            except VigilError as exc:
                log.error(
                    "fleet: box '%s' cannot run camera '%s' (%s); leaving it to the others for a minute", self.box, camera, exc
                )
                self._failed[camera] = time.monotonic() + 60
                await store.release(lease)
                return
            self.held[camera] = Held(lease, dict(entry), sent)
            started = time.monotonic()
        before = self._holders.get(camera)
        reason = "new" if before is None else "failover" if before not in members else "taken"
        self._moves[reason] += 1
        if reason != "taken":  # a hand-over is recorded by the box that gave it
            await self._record(camera, before, self.box, reason)
        log_started(camera, reason, before, leased - sent, started - leased)

    async def _restart(self, camera: str, entry: dict[str, Any]) -> None:
        try:
            config = camera_config(camera, entry)
        except VigilError as exc:
            log.error("fleet: %s; it keeps its old configuration", exc)
            self.held[camera].entry = dict(entry)
            return
        async with self._lock:
            await self.control.remove_stream(camera)
            await self.control.add_stream(config)
            self.held[camera].entry = dict(entry)
        log.info("fleet: camera '%s' restarted with its new entry", camera)

    async def _give_up(self, camera: str, reason: str, to: str | None, *, release: bool = True, record: bool = True) -> None:
        """Stop `camera` first, then delete its lease (`release`) and record the move."""
        began = time.monotonic()
        async with self._lock:
            held = self.held.pop(camera, None)
            if held is None:
                return
            try:
                await self.control.remove_stream(camera)
            except Exception:  # gone already (the pipeline is stopping)
                log.debug("fleet: removing '%s' failed", camera, exc_info=True)
        self._moves[reason] += 1
        await self._release(camera, held.lease if release else None, (reason, to), time.monotonic() - began)
        if record and self.store is not None:
            await self._record(camera, self.box, to, reason)

    async def _record(self, camera: str, from_: str | None, to: str | None, reason: str) -> None:
        assert self.store is not None
        try:
            await asyncio.wait_for(self.store.record_move(camera, from_, to, reason), self._op_timeout)
        except Exception:  # the move happened; only its record is missing
            log.debug("fleet: recording the move of '%s' failed", camera, exc_info=True)

    def _member(self) -> Member:
        return member_of(self.box, self.config.capacity, self.held, self._api_url(), self.started_at)
