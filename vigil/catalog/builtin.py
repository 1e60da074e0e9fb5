"""The built-in kinds: the one list to edit when vigil gains a source, sink, stage kind, model backend or event type.

Each kind is its module (its config class and factory, named here as "module:attribute" and
imported only when the kind is used) plus one entry below with its facts. docs/ARCHITECTURE.md
("Adding a kind") walks through an example of each.
"""

from __future__ import annotations

from vigil.catalog.kinds import (
    BackendKind,
    BuildStep,
    EventField,
    EventTypeKind,
    Extra,
    Kind,
    NoSettings,
    SecretFile,
    SinkKind,
    SourceKind,
    StageKind,
)

__all__ = ["KINDS"]

_TRACKING = Extra(
    "tracking",
    "trackers",
    "Roboflow's trackers package",
    "pip install ./packaging/opencv-alias 'vigil-analytics[tracking]' (the alias first when opencv-python-headless is installed)",
)
_YOLO = "vigil.engine.models.yolo."
_HF = "vigil.engine.models.hf."
_DETR = "vigil.engine.models.detr.detr_detection_onnx:DetrDetectionONNX"
_LOAD = "vigil.engine.backends:load_package"  # makes the class `models` names for the package
_CHECKS = "vigil.engine.backends:"
# What the onnx and openvino backends run: the same classes (an OpenVINO package opens an
# onnxruntime-shaped session over its IR, vigil.engine._private.openvino_runtime).
_ONNX_MODELS = (
    ("yolo", "detect", _YOLO + "yolo_detection_onnx:YOLODetectionONNX"),
    ("yolo", "segment", _YOLO + "yolo_segmentation_onnx:YOLOSegmentationONNX"),
    ("yolo", "pose", _YOLO + "yolo_pose_onnx:YOLOPoseONNX"),
    ("yolo", "classify", _YOLO + "yolo_classification_onnx:YOLOClassificationONNX"),
    ("ppocr", "ocr", "vigil.engine.models.ppocr.ppocr_onnx:PPOCRONNX"),
    ("ppocr", "detect", "vigil.engine.models.ppocr.ppocr_text_detection_onnx:PPOCRTextDetectionONNX"),
    # transformers detectors exported by `vigil models export --to onnx` (RT-DETR and RT-DETRv2 are `rt-detr`)
    ("rt-detr", "detect", _DETR),
    ("d-fine", "detect", _DETR),
    ("detr", "detect", _DETR),
    ("conditional-detr", "detect", _DETR),
)
_CA = SecretFile("ca_file", "the CA certificates (PEM)")
_FIRST_SEEN = EventField("first_seen", "ISO 8601 UTC", "When the track was first seen.")
_ZONE = EventField("zone", "string", "The zone's name.")
_SPEED = EventField("speed_kmh", "number", "The object's smoothed ground speed (km/h); on a camera with `speed:`, once known.")

KINDS: list[Kind | EventTypeKind] = [
    # event types (docs/OUTPUT.md, "Events"): what `Event.type` may say, in the order of OUTPUT.md's
    # table. `order`: where each sorts among a frame's events at one capture time.
    EventTypeKind(
        "object_start", "the track has been seen for `min_seen_s`", "first seen", (_FIRST_SEEN,), rule="lifecycle", order=0
    ),
    EventTypeKind(
        "object_end",
        "the track has not been seen for `lost_s`",
        "last seen",
        (
            _FIRST_SEEN,
            EventField("last_seen", "ISO 8601 UTC", "When the track was last seen."),
            EventField("duration_s", "number", "Seconds from `first_seen` to `last_seen`."),
            EventField("best", "object", "The most confident sighting, `{seq, capture_time, confidence}`: the frame of `box`."),
            EventField("speed_kmh_max", "number", "The highest of its smoothed speeds (km/h; with `speed:`, once measured)."),
            EventField("speed_kmh_mean", "number", "The mean of its smoothed speeds over the frames that had one (km/h)."),
        ),
        rule="lifecycle",
        order=50,
        occupancy="end",
    ),
    EventTypeKind(
        "zone_enter",
        "the anchor has been inside the zone for `min_seen_s`",
        "first frame inside",
        (_ZONE, _SPEED),
        rule="zones",
        order=30,
        occupancy="enter",
        area="zone",
    ),
    EventTypeKind(
        "zone_exit",
        "the anchor has been outside for `min_seen_s`, or the track ended",
        "first frame outside; last seen when the track ended",
        (_ZONE, _SPEED),
        rule="zones",
        order=10,
        occupancy="exit",
        area="zone",
    ),
    EventTypeKind(
        "dwell",
        "inside for the zone's `dwell_s` (once per stay: loitering)",
        "the frame that reached `dwell_s`",
        (
            _ZONE,
            EventField("dwell_s", "number", "Seconds the object had been inside at this frame."),
            EventField("entered_at", "ISO 8601 UTC", "The first frame of the stay."),
            _SPEED,
        ),
        rule="dwell",
        order=40,
        area="zone",
    ),
    EventTypeKind(
        "line_cross",
        "the anchor has been on the other side for `min_seen_s`",
        "first frame on the other side",
        (
            EventField("line", "string", "The line's name."),
            EventField("direction", "`in` / `out`", "The way it was crossed."),
            EventField("relinked", "bool", "The crossing was begun by a lost track and finished by this one (`relinked_from`)."),
            EventField("relinked_from", "int", "When `relinked`: the lost track's `tracker_id`."),
            EventField(
                "relinked_by",
                "`motion` / `appearance`",
                "When `relinked`: what matched the tracks (`lines[].relink_appearance`).",
            ),
            _SPEED,
        ),
        rule="lines",
        order=20,
        area="line",
        direction="direction",
    ),
    EventTypeKind(
        "speeding",
        "inside the zone faster than its `speed_limit_kmh` (once per stay)",
        "the first frame over the limit",
        (_ZONE, _SPEED, EventField("speed_limit_kmh", "number", "The zone's limit (km/h).")),
        rule="speeding",
        order=42,
        area="zone",
    ),
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
    # model backends (docs/MODEL_PACKAGES.md): what runs a package. `rank`: the resolver's default
    # order when `model.backend` does not give one, lowest first.
    BackendKind(
        "trt",
        "vigil.config.model:TensorRTConfig",
        _LOAD,
        label="TensorRT",
        models=(
            ("yolo", "detect", _YOLO + "yolo_detection_trt:YOLODetectionTRT"),
            ("yolo", "segment", _YOLO + "yolo_detection_trt:YOLOSegmentationTRT"),
            ("yolo", "pose", _YOLO + "yolo_detection_trt:YOLOPoseTRT"),
            ("yolo", "classify", _YOLO + "yolo_detection_trt:YOLOClassificationTRT"),
        ),
        extras=(Extra("trt", "tensorrt", "TensorRT", "pip install 'vigil-analytics[trt]' on a machine with an NVIDIA GPU"),),
        distributions=("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt-libs"),
        devices=("gpu",),
        rank=10,
        rank_why="an engine built for this very GPU is the fastest way to run a model on it",
        files=(".engine", ".plan", ".trt"),
        # `model.tensorrt.build_engine: auto`: the daemon builds one at start from the ONNX package.
        build_step=BuildStep(
            "vigil.engine.backends:build_trt_engine", "TensorRT engine", settings="tensorrt", switch="build_engine"
        ),
        checks=(_CHECKS + "trt_version", _CHECKS + "trt_hardware"),
    ),
    BackendKind(
        "openvino",
        "vigil.config.model:OpenVINOConfig",
        _LOAD,
        label="OpenVINO",
        models=_ONNX_MODELS,
        extras=(Extra("openvino", "openvino", "OpenVINO", "pip install 'vigil-analytics[openvino]' (openvino; nncf for int8)"),),
        distributions=("openvino",),
        devices=("cpu", "gpu", "npu"),
        rank=15,
        # bench/backends.py, nudenet's YOLOv8n at 320 and 640, 2 threads of this AMD EPYC (docs/MODEL_PACKAGES.md)
        rank_why="measured on this CPU: as fast as ONNX Runtime in fp32 (pipeline x1.06 to x1.09), "
        "its NNCF int8 1.5x to 2x ONNX Runtime's int8 at a higher agreement",
        files=(".xml",),
        # `model.openvino.convert: auto`: the daemon converts the ONNX package at start.
        build_step=BuildStep("vigil.engine.backends:convert_openvino", "OpenVINO package", settings="openvino", switch="convert"),
        checks=(_CHECKS + "openvino_device",),
    ),
    BackendKind(
        "onnx",
        "vigil.config.model:OnnxRuntimeConfig",
        _LOAD,
        label="ONNX Runtime",
        models=_ONNX_MODELS,
        extras=(Extra("onnx", "onnxruntime", "onnxruntime", "pip install onnxruntime (onnxruntime-gpu for CUDA)"),),
        distributions=("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"),
        devices=("cpu", "gpu"),
        rank=20,
        rank_why="runs everywhere (a core dependency), on the GPU through its CUDA provider; int8 on VNNI CPUs",
        files=(".onnx",),
        checks=(_CHECKS + "onnx_gpu", _CHECKS + "onnx_opset", _CHECKS + "onnx_providers"),
    ),
    BackendKind(
        "torchscript",
        NoSettings,
        _LOAD,
        label="TorchScript",
        models=(("yolo", "detect", _YOLO + "yolo_detection_torchscript:YOLODetectionTorchScript"),),
        extras=(Extra("torch", "torch", "torch"),),
        distributions=("torch",),
        devices=("cpu", "gpu"),
        rank=30,
        rank_why="eager torch: slower than an ONNX export of the same network, heavier to install",
        files=(".torchscript", ".pt", ".pt2"),
        checks=(_CHECKS + "torch_gpu",),
    ),
    BackendKind(
        "hf",
        NoSettings,
        _LOAD,
        label="transformers",
        models=(
            ("clip", "embed", _HF + "clip:CLIPEmbeddingHF"),
            ("owlv2", "zero-shot-detect", _HF + "owlv2:Owlv2ZeroShotHF"),
            ("owlv2", "detect", _HF + "owlv2:Owlv2DetectorHF"),
            ("hf-detector", "detect", _HF + "detector:ObjectDetectorHF"),
            ("dpt", "depth", _HF + "dpt:DPTDepthHF"),
            ("depth-anything", "depth", _HF + "dpt:DPTDepthHF"),
            ("blip", "vlm", _HF + "blip:BlipVQAHF"),
            ("blip-caption", "vlm", _HF + "blip:BlipVQAHF"),
        ),
        extras=(Extra("hf", "transformers", "transformers"),),
        distributions=("transformers",),
        requires=("torchscript",),
        devices=("cpu", "gpu"),
        rank=40,
        rank_why="the transformers model as saved, in eager torch: the slowest, for models with no export",
        files=(".safetensors",),
    ),
]
