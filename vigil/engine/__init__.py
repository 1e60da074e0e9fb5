"""vigil's model layer: load a model with `AutoModel`, get `Detections` back.

Writing your own model packages or weights providers: see `vigil.engine.developer_tools`.
"""

from vigil.engine.auto_model import AutoModel
from vigil.engine.base import (
    BatchSpec,
    ClassificationModel,
    InstanceSegmentationModel,
    KeypointsModel,
    Model,
    ObjectDetectionModel,
    TextRecognitionModel,
)
from vigil.engine.behaviours import (
    DepthModel,
    EmbeddingModel,
    PromptedDetector,
    VisionLanguageModel,
    ZeroShotDetectionModel,
)
from vigil.engine.cascade import (
    MIN_CROP_PX,
    Attached,
    CascadeRule,
    ModelCascade,
    attach,
    attached,
    check_secondary,
    crop,
    min_crop_size,
    run_secondary,
    select,
    validate_rule,
)
from vigil.engine.classification import ClassificationPrediction
from vigil.engine.detections import Detections
from vigil.engine.enums import BackendType, ColorFormat, Quantization
from vigil.engine.options import BackendOptions, DetectionOptions
from vigil.engine.text import TextDetections

__all__ = [
    "MIN_CROP_PX",
    "Attached",
    "AutoModel",
    "BackendOptions",
    "BackendType",
    "BatchSpec",
    "CascadeRule",
    "ClassificationModel",
    "ClassificationPrediction",
    "ColorFormat",
    "DepthModel",
    "DetectionOptions",
    "Detections",
    "EmbeddingModel",
    "InstanceSegmentationModel",
    "KeypointsModel",
    "Model",
    "ModelCascade",
    "ObjectDetectionModel",
    "PromptedDetector",
    "Quantization",
    "TextDetections",
    "TextRecognitionModel",
    "VisionLanguageModel",
    "ZeroShotDetectionModel",
    "attach",
    "attached",
    "check_secondary",
    "crop",
    "min_crop_size",
    "run_secondary",
    "select",
    "validate_rule",
]
