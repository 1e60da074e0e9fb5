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
from vigil.engine.classification import ClassificationPrediction
from vigil.engine.detections import Detections
from vigil.engine.enums import BackendType, ColorFormat, Quantization
from vigil.engine.options import BackendOptions, DetectionOptions
from vigil.engine.text import TextDetections

__all__ = [
    "AutoModel",
    "BackendOptions",
    "BackendType",
    "BatchSpec",
    "ClassificationModel",
    "ClassificationPrediction",
    "ColorFormat",
    "DetectionOptions",
    "Detections",
    "InstanceSegmentationModel",
    "KeypointsModel",
    "Model",
    "ObjectDetectionModel",
    "Quantization",
    "TextDetections",
    "TextRecognitionModel",
]
