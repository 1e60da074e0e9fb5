"""What vigil puts on NATS: a message's subject token, its payload, the header a spooled record
must carry (docs/OUTPUT.md), and the JetStream stream they go to. The client library is imported
only by `ensure_stream`, when a sink starts."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import TYPE_CHECKING, Any

from vigil.errors import SinkError
from vigil.result import Predictions
from vigil.sinks.records import header_to_record
from vigil.sinks.spool import SpoolRecord
from vigil.sinks.webhook import result_id

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

    from vigil.sinks.nats import NatsOptions

__all__ = ["display", "ensure_stream", "encode_event", "encode_result", "record_meta", "subject_token"]

log = logging.getLogger("vigil.sinks.nats")
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


async def ensure_stream(name: str, o: NatsOptions, js: JetStreamContext) -> str | None:
    """With `create_stream`, the stream made when absent; an existing stream is left as it is."""
    if not o.create_stream:
        return None
    import nats.errors
    import nats.js.errors
    from nats.js.api import StorageType, StreamConfig

    try:
        try:
            await js.stream_info(o.stream)
            return None
        except nats.js.errors.NotFoundError:
            pass
        config = StreamConfig(
            name=o.stream,
            subjects=[f"{o.subject_prefix}.>"],
            storage=StorageType.FILE,
            max_age=o.max_age_s,
            duplicate_window=o.duplicate_window_s,
            num_replicas=o.replicas,
        )
        await js.add_stream(config)
    except nats.js.errors.APIError as exc:
        # Retried like any failure: a cluster that just started refuses placement for a while.
        return (
            f"JetStream refused to create stream '{o.stream}' ({exc.description or exc}); check replicas "
            "and the server's JetStream limits"
        )
    except (nats.errors.Error, asyncio.TimeoutError) as exc:
        return f"JetStream did not answer about stream '{o.stream}' ({type(exc).__name__})"
    log.info(
        "sink '%s': created JetStream stream '%s' (subjects %s.>, %d replica(s))",
        name,
        o.stream,
        o.subject_prefix,
        o.replicas,
    )
    return None
