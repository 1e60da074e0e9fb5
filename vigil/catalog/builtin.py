"""The built-in kinds: the one list to edit when vigil gains a source, sink or stage kind.

Each kind is its module (its config class and factory, named here as "module:attribute" and
imported only when the kind is used) plus one entry below with its facts. docs/ARCHITECTURE.md
("Adding a kind") walks through an example of each.
"""

from __future__ import annotations

from vigil.catalog.kinds import Extra, Kind, SecretFile, SinkKind, SourceKind, StageKind

__all__ = ["KINDS"]

_TRACKING = Extra(
    "tracking",
    "trackers",
    "Roboflow's trackers package",
    "pip install ./packaging/opencv-alias 'vigil-analytics[tracking]' (the alias first when opencv-python-headless is installed)",
)
_CA = SecretFile("ca_file", "the CA certificates (PEM)")

KINDS: list[Kind] = [
    # sources: `kind:` may be left out; the URL then says which (the file kind takes the rest).
    SourceKind(
        "file",
        "vigil.config.sources:FileSourceConfig",
        "vigil.sources.kinds:make_file_source",
        unchecked="video files (opened at start)",
    ),
    SourceKind(
        "rtsp",
        "vigil.config.sources:RtspSourceConfig",
        "vigil.sources.kinds:make_rtsp_source",
        url_prefixes=("rtsp://", "rtsps://"),
        unchecked="camera reachability",
        secret_files=(SecretFile("password_file", "the camera's password", "text"),),
    ),
    SourceKind(
        "webcam",
        "vigil.config.sources:WebcamSourceConfig",
        "vigil.sources.kinds:make_webcam_source",
        url_prefixes=("v4l2:",),
        unchecked="webcams",
    ),
    # sinks, in publishing order of the old top-level sections, then the newer kinds.
    SinkKind("jsonl", "vigil.config.sinks:JsonlSinkConfig", "vigil.sinks.jsonl:make_jsonl_sink", takes_events=True),
    SinkKind(
        "webhook",
        "vigil.config.sinks:WebhookSinkConfig",
        "vigil.sinks.webhook:make_webhook_sink",
        takes_events=True,
        reaches="receiver",
        secret_files=(SecretFile("secret_file", "the signing secret"),),
    ),
    SinkKind("video", "vigil.config.sinks:VideoSinkConfig", "vigil.sinks.video:make_video_sink"),
    SinkKind(
        "snapshot",
        "vigil.config.sinks:SnapshotSinkConfig",
        "vigil.sinks.snapshot:make_snapshot_sink",
        takes_events=True,
        event_pictures=True,
    ),
    SinkKind(
        "mqtt",
        "vigil.config.sinks:MqttSinkConfig",
        "vigil.sinks.mqtt:make_mqtt_sink",
        takes_events=True,
        reaches="broker",
        extras=(Extra("mqtt", "aiomqtt"),),
        secret_files=(_CA, SecretFile("password_file", "the broker's password", "text")),
    ),
    SinkKind(
        "nats",
        "vigil.config.sinks:NatsSinkConfig",
        "vigil.sinks.nats:make_nats_sink",
        takes_events=True,
        reaches="broker",
        extras=(Extra("nats", "nats", "nats-py"),),
        secret_files=(
            SecretFile("password_file", "the password", "text"),
            SecretFile("token_file", "a token of at least 16 characters (openssl rand -hex 32)", "token"),
            SecretFile("credentials_file", "the NATS credentials (a .creds file)"),
            _CA,
        ),
    ),
    # stages. `place`: the order of the stages a source's own sections imply (tracking:,
    # cascades:, zones: / lines: / clips:), as one block at the tracking stage's place.
    StageKind("filter", "vigil.stages.filter:FilterStageConfig", "vigil.stages.filter:FilterStage"),
    StageKind("zones", "vigil.config.zones:ZonesStageConfig", "vigil.stages.zones:ZoneStage", place=20),
    StageKind(
        "tracking",
        "vigil.stages.tracking:TrackingStageConfig",
        "vigil.stages.tracking:TrackingStage",
        place=0,
        extras=(_TRACKING,),
    ),
    # One per `cascades:` entry, on the secondary model loaded once for every camera
    # (factory(cascade, step, source=...)); not a `stages:` entry.
    StageKind("cascade", "vigil.config.cascade:CascadeConfig", "vigil.daemon.assemble:make_cascade", place=10, listed=False),
]
