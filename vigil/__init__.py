"""vigil: an async streaming video-analytics daemon."""

from vigil.errors import VigilError
from vigil.frame import Frame

__version__ = "0.1.0"
__all__ = ["Frame", "VigilError", "__version__"]
