"""`vigil fleet ...`: the cameras a fleet of boxes shares, in its NATS JetStream buckets
(docs/SCALING.md, "A fleet").

    vigil fleet apply cameras.yaml [--prune]   put each camera of the file's `sources:` into the
                                               bucket (validated as a configuration's sources,
                                               errors with their lines); --prune removes the
                                               bucket's cameras the file does not list
    vigil fleet list [--json]                  the cameras and who runs each, the boxes alive
    vigil fleet remove NAME                    take a camera out of the fleet

The NATS settings come from a configuration's `fleet:` section (`-c vigil.yaml`), or from the
flags (`--servers` ...), the flags winning. Exit codes: 0 done, 1 `remove` of a camera the
fleet does not have, 2 bad usage or a bad file, 3 the NATS servers cannot be reached (the
message names them; credentials never appear: a server URL holds none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from vigil.config.fleet import FleetConfig
from vigil.config.fleet_cameras import CameraFile
from vigil.config.loader import read_config, read_document
from vigil.errors import ConfigError, VigilError
from vigil.fleet.store import FleetStore
from vigil.redact import mask_text, mask_url

if TYPE_CHECKING:
    from vigil.api.fleet_models import FleetView

__all__ = ["EXIT_UNREACHABLE", "CameraFile", "add_parser", "run"]

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

_FLAGS = {  # flag dest -> fleet: key
    "servers": "servers",
    "user": "user",
    "password_file": "password_file",
    "token_file": "token_file",
    "credentials_file": "credentials_file",
    "ca_file": "ca_file",
    "bucket_prefix": "bucket_prefix",
    "connect_timeout_s": "connect_timeout_s",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    nats = argparse.ArgumentParser(add_help=False)
    group = nats.add_argument_group("NATS (default: the fleet: section of -c CONFIG)")
    group.add_argument("-c", "--config", type=Path, metavar="CONFIG", help="a vigil YAML whose fleet: section names the servers")
    group.add_argument("--servers", action="append", metavar="URL", help="nats://HOST:PORT (repeat for several)")
    group.add_argument("--user", help="user name (with --password-file)")
    group.add_argument("--password-file", metavar="PATH")
    group.add_argument("--token-file", metavar="PATH")
    group.add_argument("--credentials-file", metavar="PATH", help="a NATS .creds file")
    group.add_argument("--ca-file", metavar="PATH", help="CA certificates for tls:// servers")
    group.add_argument("--bucket-prefix", metavar="PREFIX", help="the buckets' prefix (default vigil_fleet)")
    group.add_argument("--connect-timeout-s", type=float, metavar="S", help="longest wait for a server (default 3)")
    fleet = sub.add_parser("fleet", help="the cameras shared by a fleet of boxes (NATS JetStream buckets)")
    actions = fleet.add_subparsers(dest="fleet_command", required=True)
    apply = actions.add_parser("apply", parents=[nats], help="put the cameras of a YAML file (its sources:) into the fleet")
    apply.add_argument("file", type=Path, help="a YAML file with a sources: list, each entry as in vigil.yaml")
    apply.add_argument("--prune", action="store_true", help="also remove the fleet's cameras the file does not list")
    listing = actions.add_parser("list", parents=[nats], help="the fleet's cameras, who runs each, and its boxes")
    listing.add_argument("--json", action="store_true", help="as GET /api/v1/fleet answers")
    remove = actions.add_parser("remove", parents=[nats], help="take a camera out of the fleet (its box stops it)")
    remove.add_argument("name")


def fleet_config(args: argparse.Namespace) -> FleetConfig:
    """The fleet: section of `args.config`, with the flags given on top."""
    data: dict[str, Any] = {}
    if args.config is not None:
        config = read_config(args.config).config
        if config.fleet is None and not args.servers:
            raise ConfigError(f"config {args.config}: it has no fleet: section; add one (docs/SCALING.md) or give --servers")
        if config.fleet is not None:
            data = config.fleet.model_dump(exclude_unset=True)
    data.update({key: getattr(args, dest) for dest, key in _FLAGS.items() if getattr(args, dest) is not None})
    if not data.get("servers"):
        raise ConfigError("give the NATS servers: -c vigil.yaml (its fleet: section) or --servers nats://HOST:PORT")
    try:
        return FleetConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            "fleet settings: " + "; ".join(f"{'.'.join(map(str, e['loc'])) or 'fleet'}: {e['msg']}" for e in exc.errors())
        ) from None


class Unreachable(VigilError):
    """The fleet's NATS servers did not answer."""


async def _connect(config: FleetConfig) -> FleetStore:
    """The store over a connection that tries each server twice, then gives up (`Unreachable`)."""
    where = ", ".join(mask_url(s) for s in config.servers)
    errors: list[BaseException] = []

    async def remember(exc: Exception) -> None:  # nats-py's errors: the last one says why, once
        errors.append(exc)

    options = {"allow_reconnect": False, "max_reconnect_attempts": 1, "reconnect_time_wait": 0.2, "error_cb": remember}
    try:
        return await asyncio.wait_for(
            FleetStore.connect(config, **options), timeout=2 * config.connect_timeout_s * len(config.servers) + 10
        )
    except VigilError:
        raise
    except Exception as exc:  # noqa: BLE001 - nats-py's connection errors and timeouts
        last = errors[-1] if errors else exc
        detail = mask_text(str(last)) or type(last).__name__
        raise Unreachable(
            f"cannot reach the fleet's NATS servers ({where}): {detail}; check that they run and that "
            "this machine may connect to them (and the credentials)"
        ) from None


async def _apply(store: FleetStore, cameras: CameraFile, prune: bool) -> dict[str, list[str]]:
    from vigil.api.fleet import entry_of

    before = await store.cameras()
    report: dict[str, list[str]] = {"added": [], "changed": [], "unchanged": [], "removed": []}
    for config in cameras.sources:
        entry = entry_of(config)
        old = before.get(config.name)
        change = "added" if old is None else "unchanged" if old == entry else "changed"
        if change != "unchanged":
            await store.put_camera(config.name, entry)
        report[change].append(config.name)
    if prune:
        listed = {c.name for c in cameras.sources}
        for name in sorted(set(before) - listed):
            if await store.delete_camera(name):
                report["removed"].append(name)
    return report


async def _run(args: argparse.Namespace, config: FleetConfig, cameras: CameraFile | None) -> int:
    from vigil.api.answers import as_json  # aiohttp: only for these commands
    from vigil.api.fleet import read_view

    store = await _connect(config)
    try:
        if args.fleet_command == "apply":
            assert cameras is not None
            report = await _apply(store, cameras, args.prune)
            print(", ".join(f"{len(names)} {what}" for what, names in report.items() if what != "removed" or args.prune))
            for what, names in report.items():
                for name in names:
                    print(f"  {what:9} {name}")
            return EXIT_OK
        if args.fleet_command == "remove":
            if not await store.delete_camera(args.name):
                print(f"vigil: error: the fleet has no camera '{args.name}' (vigil fleet list shows them)", file=sys.stderr)
                return EXIT_NOT_FOUND
            print(f"removed {args.name}: the box running it stops it within a lease renewal")
            return EXIT_OK
        view = await read_view(store, "-", moves=10)
        print(json.dumps(as_json(view), indent=2) if args.json else list_text(view))
        return EXIT_OK
    finally:
        await store.close()


def list_text(view: FleetView) -> str:
    """`vigil fleet list`'s table."""
    lines = [f"cameras: {len(view.cameras)} ({len(view.unassigned)} unassigned)"]
    width = max([len(c.name) for c in view.cameras] + [6])
    for camera in view.cameras:
        lines.append(f"  {camera.name:{width}}  {camera.box or '(unassigned)':20}  {camera.url or ''}")
    alive = [b for b in view.boxes if b.alive]
    lines.append(
        f"boxes: {len(alive)} alive" + (f", {len(view.boxes) - len(alive)} gone" if len(alive) < len(view.boxes) else "")
    )
    for box in view.boxes:
        cap = box.capacity
        capacity = ", ".join(
            part
            for part in (f"{cap.cameras} cameras" if cap.cameras is not None else "", f"{cap.fps:g} fps" if cap.fps else "")
            if part
        )
        state = "alive" if box.alive else "gone "
        lines.append(
            f"  {box.box:20}  {state}  load {box.load.cameras} cameras {box.load.fps:g} fps"
            f"  capacity {capacity or 'unlimited'}  {', '.join(box.cameras)}"
        )
    if view.moves:
        lines.append("last moves:")
        for move in view.moves:
            lines.append(f"  {move.at}  {move.camera}: {move.from_ or '-'} -> {move.to or '-'} ({move.reason})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """The command; only its exit code leaves (errors printed to stderr)."""
    try:
        config = fleet_config(args)
        cameras = read_document(args.file, CameraFile) if args.fleet_command == "apply" else None
        return asyncio.run(_run(args, config, cameras))
    except Unreachable as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
