"""Rebuilds brightness/python/brightness.onnx (needs `pip install onnx`), then run
`python make_onnx.py` and update the sha256 in brightness/python/package.json."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 64, 64])
y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 2])
nodes = [
    helper.make_node("ReduceMean", ["images"], ["mean4"], axes=[1, 2, 3], keepdims=1),
    helper.make_node("Reshape", ["mean4", "shape"], ["bright"]),
    helper.make_node("Sub", ["one", "bright"], ["dark"]),
    helper.make_node("Concat", ["dark", "bright"], ["probs"], axis=1),
]
inits = [numpy_helper.from_array(np.array([-1, 1], np.int64), "shape"), numpy_helper.from_array(np.array(1.0, np.float32), "one")]
model = helper.make_model(helper.make_graph(nodes, "brightness", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, Path(__file__).parent / "brightness" / "python" / "brightness.onnx")
