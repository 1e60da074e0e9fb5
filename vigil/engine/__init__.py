"""vigil's model layer: load a model with `AutoModel`, get `Detections` back."""

from vigil.engine.auto_model import AutoModel
from vigil.engine.base import BatchSpec, ObjectDetectionModel
from vigil.engine.detections import Detections
from vigil.engine.options import DetectionOptions

__all__ = ["AutoModel", "BatchSpec", "DetectionOptions", "Detections", "ObjectDetectionModel"]
