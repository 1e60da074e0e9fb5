"""The same weights in two packages: an ONNX graph run op by op with torch, traced into TorchScript.

onnx2torch (PyPI) would be the usual converter, but it imports torchvision at import time, and
PyPI's torchvision does not import beside the CPU torch wheel this machine installs; so the
tests convert the graph themselves. Only the ops of an Ultralytics YOLOv8/11 detection export
are implemented (anything else is an error, never a silent approximation). Shapes are computed
with traced tensor ops (`_shape_as_tensor`, 0-dim tensors as sizes), so the TorchScript keeps a
dynamic batch and input size, like the ONNX graph it comes from.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

_DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 11: torch.float64}


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxGraphModule(torch.nn.Module):
    """Runs an ONNX graph's nodes with torch ops; `torch.jit.trace` it to get TorchScript."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        self.graph = model.graph
        self.input_name = model.graph.input[0].name
        self.consts: dict[str, torch.Tensor] = {}
        for init in model.graph.initializer:
            self.consts[init.name] = torch.from_numpy(numpy_helper.to_array(init).copy())
        unknown = {n.op_type for n in model.graph.node} - set(_OPS)
        if unknown:
            raise NotImplementedError(f"ONNX ops not converted: {sorted(unknown)}")
        self.silu = _silu_pairs(model.graph)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        env: dict[str, Any] = {self.input_name: images}
        constant = set(self.consts)
        for name, tensor in self.consts.items():
            env[name] = tensor
        skip = {n.output[0] for n in self.graph.node if n.op_type == "Sigmoid"} & {
            i for n in self.graph.node if n.output[0] in self.silu for i in n.input
        }
        for node in self.graph.node:
            if node.output[0] in skip:
                continue
            if node.output[0] in self.silu:
                env[node.output[0]] = F.silu(env[self.silu[node.output[0]]])
                continue
            args = [env[i] if i else None for i in node.input]
            # a node whose inputs are all constants gives constants (shape arithmetic on weights)
            is_const = all(i in constant or not i for i in node.input)
            outputs = _OPS[node.op_type](args, _attrs(node), is_const)
            for out_name, value in zip(node.output, outputs if isinstance(outputs, tuple) else (outputs,)):
                env[out_name] = value
                if is_const:
                    constant.add(out_name)
        return env[self.graph.output[0].name]


def _silu_pairs(graph: onnx.GraphProto) -> dict[str, str]:
    """Mul(x, Sigmoid(x)) nodes (the exporter's spelling of SiLU) -> x, where the Sigmoid feeds
    nothing else: run as one `F.silu`, as Ultralytics' own torch model does (nn.SiLU), so the
    benchmark does not charge torch for an op the exporter split in two."""
    sigmoid_of = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Sigmoid"}
    uses: dict[str, int] = {}
    for n in graph.node:
        for name in n.input:
            uses[name] = uses.get(name, 0) + 1
    pairs = {}
    for n in graph.node:
        if n.op_type == "Mul" and len(n.input) == 2:
            x, sig = n.input
            if sigmoid_of.get(sig) != x:
                sig, x = x, sig
            if sigmoid_of.get(sig) == x and uses[sig] == 1:
                pairs[n.output[0]] = x
    return pairs


def _const_ints(value: torch.Tensor) -> list[int]:
    return [int(v) for v in value.reshape(-1).tolist()]


def _conv(a: list, at: dict, c: bool) -> torch.Tensor:
    pads = at.get("pads", [0, 0, 0, 0])
    assert pads[:2] == pads[2:], "asymmetric Conv padding"
    return F.conv2d(
        a[0],
        a[1],
        a[2] if len(a) > 2 else None,
        at.get("strides", [1, 1]),
        pads[:2],
        at.get("dilations", [1, 1]),
        at.get("group", 1),
    )


def _maxpool(a: list, at: dict, c: bool) -> torch.Tensor:
    pads = at.get("pads", [0, 0, 0, 0])
    assert pads[:2] == pads[2:], "asymmetric MaxPool padding"
    return F.max_pool2d(a[0], at["kernel_shape"], at.get("strides", [1, 1]), pads[:2])


def _resize(a: list, at: dict, c: bool) -> torch.Tensor:
    assert at.get("mode") == b"nearest" and at.get("coordinate_transformation_mode") == b"asymmetric"
    assert at.get("nearest_mode") == b"floor"
    scales = [float(s) for s in a[2].tolist()]
    assert scales[:2] == [1.0, 1.0] and scales[2] == scales[3] and scales[2].is_integer()
    return F.interpolate(a[0], scale_factor=scales[2:], mode="nearest")


def _split(a: list, at: dict, c: bool) -> tuple[torch.Tensor, ...]:
    return tuple(torch.split(a[0], _const_ints(a[1]), dim=at.get("axis", 0)))


def _reshape(a: list, at: dict, c: bool) -> torch.Tensor:
    x, shape = a
    if c or not isinstance(shape, torch.Tensor):
        sizes: list[Any] = _const_ints(shape)
    else:
        sizes = list(shape.unbind(0))
    # ONNX: 0 copies the input's dimension (allowzero=0)
    sizes = [x.shape[i] if isinstance(s, int) and s == 0 else s for i, s in enumerate(sizes)]
    return x.reshape(sizes)


def _unsqueeze(a: list, at: dict, c: bool) -> torch.Tensor:
    out = a[0]
    for axis in sorted(_const_ints(a[1])):
        out = out.unsqueeze(axis)
    return out


def _gather(a: list, at: dict, c: bool) -> torch.Tensor:
    data, index = a
    axis = at.get("axis", 0)
    if index.dim() == 0:
        return data.select(axis, int(index))
    return torch.index_select(data, axis, index.reshape(-1)).reshape(*data.shape[:axis], *index.shape, *data.shape[axis + 1 :])


def _range(a: list, at: dict, c: bool) -> torch.Tensor:
    start, limit, delta = a
    return torch.arange(start, limit, delta, dtype=limit.dtype)


def _expand(a: list, at: dict, c: bool) -> torch.Tensor:
    x, shape = a
    sizes = _const_ints(shape) if c else list(shape.unbind(0))
    # ONNX Expand broadcasts both ways (a 1 in the shape keeps the input's dimension)
    ones = torch.ones(sizes, dtype=x.dtype)
    return x * ones


def _constant_of_shape(a: list, at: dict, c: bool) -> torch.Tensor:
    value = numpy_helper.to_array(at["value"]) if "value" in at else np.zeros(1, np.float32)
    sizes = _const_ints(a[0]) if c else list(a[0].unbind(0))
    return torch.full(sizes, float(value.reshape(-1)[0]), dtype=torch.from_numpy(value.copy()).dtype)


def _slice(a: list, at: dict, c: bool) -> torch.Tensor:
    x, starts, ends = a[:3]
    axes = _const_ints(a[3]) if len(a) > 3 and a[3] is not None else list(range(len(_const_ints(starts))))
    steps = _const_ints(a[4]) if len(a) > 4 and a[4] is not None else [1] * len(axes)
    index: list[Any] = [slice(None)] * x.dim()
    for start, end, axis, step in zip(_const_ints(starts), _const_ints(ends), axes, steps):
        index[axis] = slice(start, min(end, 2**62), step)
    return x[tuple(index)]


_OPS: dict[str, Any] = {
    "Conv": _conv,
    "MaxPool": _maxpool,
    "Resize": _resize,
    "Split": _split,
    "Reshape": _reshape,
    "Unsqueeze": _unsqueeze,
    "Gather": _gather,
    "Range": _range,
    "Expand": _expand,
    "ConstantOfShape": _constant_of_shape,
    "Slice": _slice,
    "Shape": lambda a, at, c: torch._shape_as_tensor(a[0]),
    "Cast": lambda a, at, c: a[0].to(_DTYPES[at["to"]]),
    "Sigmoid": lambda a, at, c: torch.sigmoid(a[0]),
    "Mul": lambda a, at, c: a[0] * a[1],
    "Add": lambda a, at, c: a[0] + a[1],
    "Sub": lambda a, at, c: a[0] - a[1],
    "Div": lambda a, at, c: a[0] / a[1],
    "Concat": lambda a, at, c: torch.cat(a, dim=at["axis"]),
    "Transpose": lambda a, at, c: a[0].permute(at["perm"]),
    "Softmax": lambda a, at, c: torch.softmax(a[0], dim=at.get("axis", -1)),
}


def ultralytics_config(model: onnx.ModelProto) -> str:
    """The `config.txt` Ultralytics writes into a TorchScript export (JSON of its metadata), from
    the same metadata in the ONNX export."""
    import ast

    props = {p.key: p.value for p in model.metadata_props}
    config: dict[str, Any] = {key: props[key] for key in ("description", "author", "task") if key in props}
    config.update({key: ast.literal_eval(props[key]) for key in ("stride", "batch", "imgsz", "names") if key in props})
    return json.dumps(config)


def onnx_to_torchscript(
    onnx_path: Path, out_path: Path, example_size: tuple[int, int] = (320, 320), with_metadata: bool = False
) -> Path:
    """Trace the ONNX graph's torch twin at batch 2 and write it as TorchScript (with Ultralytics'
    `config.txt` metadata when `with_metadata`, as `yolo export format=torchscript` does)."""
    model = onnx.load(str(onnx_path))
    module = OnnxGraphModule(model).eval()
    example = torch.rand(2, 3, *example_size)
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer warns about every shape value it records; the traced graph is checked by
        # running it at other batches and sizes in the tests
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is (deprecated|not supported)", DeprecationWarning)
        traced = torch.jit.trace(module, example, check_trace=False)
        extra = {"config.txt": ultralytics_config(model)} if with_metadata else {}
        traced.save(str(out_path), _extra_files=extra)
    return out_path
