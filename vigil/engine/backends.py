"""What the catalog's built-in backends name (vigil/catalog/builtin.py): the loader that makes a
package's model class, and the resolver checks each backend adds. A plugin backend may reuse
`load_package` when its runtime fits one of vigil's model classes.

    BackendKind("onnx", ..., factory="vigil.engine.backends:load_package",
                checks=("vigil.engine.backends:onnx_opset",))

Importing this module imports no runtime (onnxruntime, tensorrt, torch).
"""

from vigil.engine._private.backend_checks import onnx_gpu, onnx_opset, onnx_providers, torch_gpu, trt_hardware, trt_version
from vigil.engine._private.loader import load_package

__all__ = ["load_package", "onnx_gpu", "onnx_opset", "onnx_providers", "torch_gpu", "trt_hardware", "trt_version"]
