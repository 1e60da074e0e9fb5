"""The fleet's state in four NATS JetStream key-value buckets (`PREFIX` is `fleet.bucket_prefix`):

    PREFIX_cameras   camera name -> its `sources` entry (JSON), validated like the YAML's; kept
    PREFIX_members   box -> {box, capacity, load, cameras, api, started_at, version, leaving}; expires
                     member_ttl_s after the box's last heartbeat
    PREFIX_leases    camera -> {box, since}; expires lease_ttl_s after its last renewal; taken with
                     a compare-and-set on absence (`create`), renewed with one on its revision
    PREFIX_moves     a sortable id (milliseconds since the epoch, a random suffix) -> {at, camera,
                     from, to, reason}; kept a day

nats-server before 2.11 has no per-message TTL: leases and members expire by their bucket's
`max_age`. An existing bucket is used as it is; a new one gets 3 replicas (else what the
servers accept), so a 3-node cluster keeps the fleet's state through the loss of any one node.
nats-py (the `nats` extra) is imported on `connect`."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from vigil import __version__
from vigil.config.fleet import FleetConfig
from vigil.config.fleet_cameras import valid_key
from vigil.config.sources import SourceConfig
from vigil.errors import ConfigError, MissingDependencyError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.kv import KeyValue

__all__ = ["MOVES_KEPT_S", "FleetStore", "Lease", "LeaseLost", "Member", "Move", "camera_config", "valid_key"]
log = logging.getLogger(__name__)

MOVES_KEPT_S = 86_400.0
_KINDS = ("cameras", "members", "leases", "moves")
_WRONG_LAST = (10071, 10164)  # JetStream's "wrong last sequence"
_OP_TIMEOUT_S = 2.0  # one KV operation; a renewal that takes longer has failed
_PLACEMENT_WAIT_S = 10.0


class LeaseLost(Exception):
    """The lease is no longer this holder's (it expired, or another box took it)."""


@dataclass(frozen=True)
class Member:
    """One box as its heartbeat describes it."""

    box: str
    capacity: dict[str, float | None] = field(default_factory=lambda: {"cameras": None, "fps": None})
    load: dict[str, float] = field(default_factory=lambda: {"cameras": 0, "fps": 0.0})
    cameras: list[str] = field(default_factory=list)
    api: str | None = None
    started_at: float = 0.0
    version: str = __version__
    leaving: bool = False  # handing its cameras over before it exits: no longer assigned any

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Member:
        return cls(
            box=str(data["box"]),
            capacity=dict(data.get("capacity") or {}),
            load=dict(data.get("load") or {}),
            cameras=[str(c) for c in data.get("cameras") or []],
            api=data.get("api"),
            started_at=float(data.get("started_at") or 0.0),
            version=str(data.get("version") or ""),
            leaving=bool(data.get("leaving", False)),
        )


@dataclass(frozen=True)
class Lease:
    """Who runs `camera` since when; `revision` is the KV revision a renewal must name."""

    camera: str
    box: str
    since: float
    revision: int

    def to_json(self) -> dict[str, Any]:
        return {"box": self.box, "since": self.since}


@dataclass(frozen=True)
class Move:
    """A camera changing boxes (`from_`/`to` None: nobody), and why."""

    id: str
    at: float
    camera: str
    from_: str | None
    to: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "camera": self.camera, "from": self.from_, "to": self.to, "reason": self.reason}


def camera_config(name: str, entry: Mapping[str, Any]) -> SourceConfig:
    """The `sources` entry `entry` of camera `name` validated as the YAML's are; `ConfigError`
    naming the camera and the keys that are wrong."""
    from pydantic import ValidationError

    if not valid_key(name):
        raise ConfigError(f"camera '{name}': a fleet camera's name neither starts nor ends with '.' nor holds '..'; rename it")
    if "name" in entry and entry["name"] != name:
        raise ConfigError(f"camera '{name}': its entry is named '{entry['name']}'; give one name")
    try:
        return SourceConfig.model_validate({**entry, "name": name})
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"camera '{name}': {wrong}") from None


class FleetStore:
    """The four buckets over one NATS connection (`await FleetStore.connect(config)`, `close()`)."""

    def __init__(self, config: FleetConfig, nc: Client, buckets: dict[str, KeyValue]) -> None:
        self.config = config
        self.nc = nc
        self._kv = buckets

    @classmethod
    async def connect(cls, config: FleetConfig, **options: Any) -> FleetStore:
        """Connect (reconnecting by itself for ever) and make sure the buckets exist; `options`
        go to `nats.connect` (callbacks)."""
        try:
            import nats
        except ImportError as exc:
            raise MissingDependencyError(
                "fleet: needs nats-py, which is not installed; install it with pip install 'vigil-analytics[nats]'"
            ) from exc
        connect = {**await asyncio.to_thread(_connect_options, config), **options}
        nc = await nats.connect(**connect)
        try:
            buckets = await _open_buckets(nc, config)
        except BaseException:
            await nc.close()
            raise
        return cls(config, nc, buckets)

    async def close(self) -> None:
        if not self.nc.is_closed:
            try:
                await self.nc.close()
            except Exception:  # a broken connection is gone either way
                log.debug("fleet: closing the NATS connection failed", exc_info=True)

    connected = property(lambda self: bool(self.nc.is_connected))

    def bucket(self, kind: str) -> KeyValue:
        return self._kv[kind]

    # -- cameras ----------------------------------------------------------------------------

    async def put_camera(self, name: str, entry: Mapping[str, Any]) -> SourceConfig:
        """Add or replace camera `name` (its `sources` entry, without or with its name)."""
        config = camera_config(name, entry)
        body = {key: value for key, value in entry.items() if key != "name"}
        await self._kv["cameras"].put(name, json.dumps(body, sort_keys=True).encode())
        return config

    async def delete_camera(self, name: str) -> bool:
        """Remove camera `name`; False when there was none."""
        from nats.js.errors import KeyNotFoundError

        if not valid_key(name):
            return False
        try:
            await self._kv["cameras"].get(name)
        except KeyNotFoundError:
            return False
        await self._kv["cameras"].delete(name)
        return True

    async def cameras(self) -> dict[str, dict[str, Any]]:
        """Every camera's entry (as stored, without its name), by name."""
        return {key: value for key, (value, _) in (await self._read("cameras")).items()}

    # -- members ----------------------------------------------------------------------------

    async def heartbeat(self, member: Member) -> None:
        await self._kv["members"].put(member.box, json.dumps(member.to_json()).encode())

    async def leave(self, box: str) -> None:
        await self._kv["members"].delete(box)

    async def members(self) -> dict[str, Member]:
        """The live boxes (heard of within member_ttl_s), by name."""
        out = {}
        for key, (value, _) in (await self._read("members")).items():
            try:
                out[key] = Member.from_json(value)
            except (KeyError, TypeError, ValueError):
                log.warning("fleet: member '%s' has an unreadable entry; ignored", key)
        return out

    # -- leases -----------------------------------------------------------------------------

    async def leases(self) -> dict[str, Lease]:
        """The cameras held now, by camera."""
        out = {}
        for key, (value, revision) in (await self._read("leases")).items():
            try:
                out[key] = Lease(key, str(value["box"]), float(value.get("since") or 0.0), revision)
            except (KeyError, TypeError, ValueError):
                log.warning("fleet: lease of '%s' is unreadable; ignored", key)
        return out

    async def take(self, camera: str, box: str) -> Lease | None:
        """The lease of `camera` for `box` when nobody holds it (compare-and-set on absence), else None."""
        from nats.js.errors import KeyWrongLastSequenceError

        since = time.time()
        try:
            revision = await self._kv["leases"].create(camera, json.dumps({"box": box, "since": since}).encode())
        except KeyWrongLastSequenceError:
            return None
        return Lease(camera, box, since, revision)

    async def renew(self, lease: Lease) -> Lease:
        """The lease renewed (its expiry starts again); `LeaseLost` when it is no longer this holder's."""
        from nats.js.errors import KeyWrongLastSequenceError

        try:
            revision = await self._kv["leases"].update(lease.camera, json.dumps(lease.to_json()).encode(), last=lease.revision)
        except KeyWrongLastSequenceError:
            mine = await self.adopt(lease)  # a renewal stored whose acknowledgement was lost?
            if mine is None:
                raise LeaseLost(lease.camera) from None
            return mine
        return Lease(lease.camera, lease.box, lease.since, revision)

    async def adopt(self, lease: Lease) -> Lease | None:
        """The lease of `lease.camera` renewed when the bucket holds `lease` (same box, same
        `since`) at another revision: a write of this holder whose acknowledgement was lost, or
        one of this box before it restarted (box names are unique). None: not this holder's."""
        from nats.js.errors import KeyWrongLastSequenceError, NotFoundError

        bucket = f"{self.config.bucket_prefix}_leases"
        js = self.nc.jetstream(timeout=_OP_TIMEOUT_S)
        try:  # from the stream's leader (a direct get may answer from a replica behind it)
            msg = await js.get_last_msg(f"KV_{bucket}", f"$KV.{bucket}.{lease.camera}")
            current = json.loads(msg.data or b"{}")
        except (NotFoundError, ValueError):
            return None
        if (msg.headers or {}).get("KV-Operation") or current.get("box") != lease.box or current.get("since") != lease.since:
            return None
        try:
            revision = await self._kv["leases"].update(lease.camera, msg.data or b"", last=msg.seq)
        except KeyWrongLastSequenceError:
            return None
        return Lease(lease.camera, lease.box, lease.since, revision)

    async def release(self, lease: Lease) -> None:
        """Give the lease up (only while it is still this holder's revision)."""
        from nats.js.errors import APIError

        try:
            await self._kv["leases"].delete(lease.camera, last=lease.revision)
        except APIError as exc:
            if exc.err_code not in _WRONG_LAST:
                raise
            log.debug("fleet: lease of '%s' was no longer ours to release", lease.camera)

    # -- moves ------------------------------------------------------------------------------

    async def record_move(self, camera: str, from_: str | None, to: str | None, reason: str) -> Move:
        at = time.time()
        move = Move(f"{int(at * 1000):014d}-{secrets.token_hex(3)}", at, camera, from_, to, reason)
        body = {key: value for key, value in move.to_json().items() if key != "id"}
        await self._kv["moves"].put(move.id, json.dumps(body).encode())
        return move

    async def moves(self, limit: int = 50) -> list[Move]:
        """The last `limit` moves of the day, newest first."""
        from nats.js.errors import KeyNotFoundError

        keys = sorted(await self._keys("moves"), reverse=True)[: max(0, limit)]
        out = []
        for key in keys:
            try:
                data = json.loads((await self._kv["moves"].get(key)).value or b"{}")
                out.append(
                    Move(key, float(data["at"]), str(data["camera"]), data.get("from"), data.get("to"), str(data["reason"]))
                )
            except (KeyNotFoundError, KeyError, TypeError, ValueError):
                continue  # expired meanwhile, or not ours
        return out

    # -- reading a bucket -------------------------------------------------------------------

    async def _keys(self, kind: str) -> list[str]:
        """The keys of a bucket (deleted ones too: their reads fail), from the stream's info: one
        request its leader answers. (nats-py's `keys()` makes a consumer, which times out now and
        then while a node of the cluster is down.)"""
        bucket = f"{self.config.bucket_prefix}_{kind}"
        prefix = f"$KV.{bucket}."
        info = await self.nc.jetstream(timeout=_OP_TIMEOUT_S).stream_info(f"KV_{bucket}", subjects_filter=f"{prefix}>")
        return sorted(subject[len(prefix) :] for subject in info.state.subjects or {})

    async def _read(self, kind: str) -> dict[str, tuple[Any, int]]:
        """Every live key of a bucket: (decoded JSON value, revision); unreadable values skipped."""
        from nats.js.errors import KeyNotFoundError

        kv = self._kv[kind]
        keys = await self._keys(kind)
        out: dict[str, tuple[Any, int]] = {}
        for key in keys:
            try:
                entry = await kv.get(key)
                out[key] = (json.loads(entry.value or b"null"), entry.revision or 0)
            except KeyNotFoundError:
                continue  # deleted or expired between the listing and the read
            except ValueError:
                log.warning("fleet: %s entry '%s' is not JSON; ignored", kind, key)
        return out


def _connect_options(config: FleetConfig) -> dict[str, Any]:
    """nats.connect's options; the secret files are read here (off the event loop)."""
    import ssl

    from vigil.config.files import read_password_file, read_token_file

    options: dict[str, Any] = {
        "servers": list(config.servers),
        "name": "vigil-fleet",
        "connect_timeout": config.connect_timeout_s,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "ping_interval": 2,
        "max_outstanding_pings": 2,
    }
    if config.user is not None and config.password_file is not None:
        options.update(user=config.user, password=read_password_file(config.password_file, "the NATS password"))
    if config.token_file is not None:
        options["token"] = read_token_file(config.token_file)
    if config.credentials_file is not None:
        options["user_credentials"] = config.credentials_file
    if config.uses_tls:
        options["tls"] = ssl.create_default_context(cafile=config.ca_file)
    return options


async def _open_buckets(nc: Client, config: FleetConfig) -> dict[str, KeyValue]:
    from nats.js.api import KeyValueConfig, StorageType
    from nats.js.errors import BucketNotFoundError

    js = nc.jetstream(timeout=_OP_TIMEOUT_S)
    ttls = {"cameras": None, "members": config.member_ttl_s, "leases": config.lease_ttl_s, "moves": MOVES_KEPT_S}
    out = {}
    for kind in _KINDS:
        name = f"{config.bucket_prefix}_{kind}"
        try:
            out[kind] = await js.key_value(name)
            continue
        except BucketNotFoundError:
            pass
        out[kind] = await _create_bucket(js, KeyValueConfig(bucket=name, history=1, ttl=ttls[kind], storage=StorageType.FILE))
    return out


async def _create_bucket(js: Any, kv_config: Any) -> KeyValue:
    """Create a bucket with 3 replicas, else 2, else 1: a server outside a cluster refuses more
    than 1 at once (10074); a cluster short of peers (one just started, or of 2 nodes) is asked
    again for up to `_PLACEMENT_WAIT_S` before fewer. One made meanwhile is used as it is."""
    from nats.js.errors import APIError

    for replicas in (3, 2, 1):
        deadline = time.monotonic() + _PLACEMENT_WAIT_S
        while True:
            try:
                kv = await js.create_key_value(kv_config, replicas=replicas)
                log.info("fleet: bucket %s created with %d replica(s)", kv_config.bucket, replicas)
                return kv
            except APIError as exc:
                if "already in use" in str(exc.description or "").lower():
                    return await js.key_value(kv_config.bucket)
                if replicas == 1 or exc.err_code == 10074 or time.monotonic() > deadline:
                    last = exc
                    break
                await asyncio.sleep(0.5)
    raise last
