"""What a NATS message of vigil looks like: its subject token, its payload and the header a
spooled record must carry (docs/OUTPUT.md). No client library here."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from vigil.errors import SinkError
from vigil.result import Predictions
from vigil.sinks.records import header_to_record
from vigil.sinks.spool import SpoolRecord
from vigil.sinks.webhook import result_id

if TYPE_CHECKING:
    from nats.aio.client import Client

__all__ = ["display", "encode_event", "encode_result", "record_meta", "subject_token"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def subject_token(camera: str) -> str:
    """A camera name as one subject token: every character but ASCII letters, digits, `_` and
    `-` becomes `_` (a `.` would split the token, `*` and `>` are wildcards)."""
    return _UNSAFE.sub("_", camera) or "_"


def display(nc: Client) -> str:
    url = nc.connected_url
    return f"{url.scheme}://{url.hostname}:{url.port}" if url is not None else "(unknown server)"


def encode_event(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def encode_result(header: dict[str, Any], dets: Predictions) -> bytes:
    """A result's record: its id (the Nats-Msg-Id) first, as the webhook writes it."""
    record = {"id": result_id(header), **header_to_record(header, dets)}
    return json.dumps(record, separators=(",", ":")).encode()


def record_meta(spool_dir: object, record: SpoolRecord) -> dict[str, Any]:
    """A spooled record's header (its id and source first), or a clear refusal."""
    try:
        meta = json.loads(record.payload)
        if isinstance(meta, dict) and isinstance(meta.get("id"), str) and isinstance(meta.get("source"), str):
            return meta
    except ValueError:
        pass
    raise SinkError(
        f"spool {spool_dir} holds a record without an id and a source; it was not written by this vigil "
        "version: move its files away, then start again"
    )
