"""A fake `tensorrt` module with the TensorRT 10 API shape, and a fake CUDA device, for machines
without a GPU. Names follow TensorRT's Python API so the code under test cannot tell.
`as_tensorrt_11(monkeypatch)` turns it into TensorRT 11, which removed the precision builder
flags, the INT8 calibrator and EXPLICIT_BATCH (checked against the names in the real
tensorrt-cu12-bindings 11.4.0 and 10.16.1 wheels).

A fake "engine" is a zip holding `model.onnx` and `profile.json` ({input: [min, opt, max]}, plus
flags); its execution context runs the ONNX with onnxruntime, so outputs are real. The fake
device keeps "device memory" as numpy byte buffers keyed by integer pointers, which the
context reads and writes by address, as a real engine does.
"""

from __future__ import annotations

import enum
import io
import itertools
import json
import zipfile
from collections.abc import Iterable
from typing import Any

import numpy as np
import onnx
import onnxruntime

__version__ = "10.3.0"
API_MAJOR = 10

MEMORY: dict[int, np.ndarray] = {}
_POINTERS = itertools.count(0x1000, 0x1000)


class Logger:
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    def __init__(self, severity: int = 2) -> None:
        self.severity = severity
        self.messages: list[str] = []


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class DataType(enum.Enum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    INT64 = 5


_NP = {
    DataType.FLOAT: np.float32,
    DataType.HALF: np.float16,
    DataType.INT8: np.int8,
    DataType.INT32: np.int32,
    DataType.BOOL: np.bool_,
    DataType.INT64: np.int64,
}
_FROM_ONNX = {1: DataType.FLOAT, 10: DataType.HALF, 3: DataType.INT8, 6: DataType.INT32, 9: DataType.BOOL, 7: DataType.INT64}


def nptype(dtype: DataType) -> type:
    return _NP[dtype]


class Dims(tuple):
    pass


def pack_engine(onnx_bytes: bytes, profile: dict[str, list[list[int]]], **flags: Any) -> bytes:
    """A fake serialised engine: the ONNX graph plus profile 0's (min, opt, max) per input."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("model.onnx", onnx_bytes)
        zf.writestr("profile.json", json.dumps({"profile": profile, "flags": flags}))
    return out.getvalue()


class ICudaEngine:
    def __init__(self, onnx_bytes: bytes, profile: dict[str, list[list[int]]], flags: dict[str, Any]) -> None:
        self.flags = flags
        self._session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        graph = onnx.load_from_string(onnx_bytes).graph
        self._names: list[str] = []
        self._modes: dict[str, TensorIOMode] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._dtypes: dict[str, DataType] = {}
        initializers = {i.name for i in graph.initializer}
        for mode, values in ((TensorIOMode.INPUT, graph.input), (TensorIOMode.OUTPUT, graph.output)):
            for value in values:
                if value.name in initializers:
                    continue
                tensor = value.type.tensor_type
                shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
                if mode is TensorIOMode.INPUT and value.name in profile:
                    low, _, high = profile[value.name]
                    # a real engine fixes a dimension whose profile range is a single value... only
                    # when the network did; keep -1 where the ONNX was dynamic.
                    shape = tuple(s if s > 0 else -1 for s in shape)
                    assert all(lo <= hi for lo, hi in zip(low, high))
                self._names.append(value.name)
                self._modes[value.name] = mode
                self._shapes[value.name] = shape
                self._dtypes[value.name] = _FROM_ONNX[tensor.elem_type]
        self._profile = {k: tuple(Dims(v) for v in shapes) for k, shapes in profile.items()}
        self.num_optimization_profiles = 1
        self.contexts: list[IExecutionContext] = []

    @property
    def num_io_tensors(self) -> int:
        return len(self._names)

    def get_tensor_name(self, index: int) -> str:
        return self._names[index]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return self._modes.get(name, TensorIOMode.NONE)

    def get_tensor_shape(self, name: str) -> Dims:
        return Dims(self._shapes[name])

    def get_tensor_dtype(self, name: str) -> DataType:
        return self._dtypes[name]

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> tuple[Dims, Dims, Dims]:
        if profile_index != 0 or name not in self._profile:
            raise RuntimeError(f"no profile {profile_index} for {name}")
        low, opt, high = self._profile[name]
        return low, opt, high

    def create_execution_context(self) -> IExecutionContext:
        context = IExecutionContext(self)
        self.contexts.append(context)
        return context


class IExecutionContext:
    def __init__(self, engine: ICudaEngine) -> None:
        self.engine = engine
        self._input_shapes: dict[str, tuple[int, ...]] = {}
        self._addresses: dict[str, int] = {}
        self._resolved: dict[str, tuple[int, ...]] = {}
        self.executions = 0
        self.shapes_set: list[tuple[str, tuple[int, ...]]] = []

    def set_input_shape(self, name: str, shape: Iterable[int]) -> bool:
        shape = tuple(int(s) for s in shape)
        low, _, high = (
            self.engine.get_tensor_profile_shape(name, 0)
            if name in self.engine._profile
            else (self.engine._shapes[name], None, self.engine._shapes[name])
        )
        if len(shape) != len(low) or any(not lo <= s <= hi for s, lo, hi in zip(shape, low, high)):
            return False  # TensorRT logs an error and returns False
        self._input_shapes[name] = shape
        self.shapes_set.append((name, shape))
        self._resolved = {}
        return True

    def _infer(self) -> dict[str, tuple[int, ...]]:
        if not self._resolved:
            feeds = {n: np.zeros(s, nptype(self.engine._dtypes[n])) for n, s in self._input_shapes.items()}
            outs = self.engine._session.run(None, feeds)
            names = [o.name for o in self.engine._session.get_outputs()]
            self._resolved = {n: tuple(o.shape) for n, o in zip(names, outs)}
        return self._resolved

    def get_tensor_shape(self, name: str) -> Dims:
        if self.engine.get_tensor_mode(name) is TensorIOMode.INPUT:
            return Dims(self._input_shapes.get(name, self.engine._shapes[name]))
        if any(n not in self._input_shapes for n, m in self.engine._modes.items() if m is TensorIOMode.INPUT):
            return self.engine.get_tensor_shape(name)
        return Dims(self._infer()[name])

    def set_tensor_address(self, name: str, ptr: int) -> bool:
        if ptr not in MEMORY:
            return False
        self._addresses[name] = ptr
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        engine = self.engine
        feeds = {}
        for name, shape in self._input_shapes.items():
            dtype = np.dtype(nptype(engine._dtypes[name]))
            raw = MEMORY[self._addresses[name]]
            feeds[name] = raw[: int(np.prod(shape)) * dtype.itemsize].view(dtype).reshape(shape)
        outs = engine._session.run(None, feeds)
        for meta, value in zip(engine._session.get_outputs(), outs):
            raw = MEMORY[self._addresses[meta.name]]
            data = np.ascontiguousarray(value).view(np.uint8).reshape(-1)
            raw[: data.size] = data
        self.executions += 1
        return True


class Runtime:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger
        self.engine_host_code_allowed = False

    def deserialize_cuda_engine(self, data: bytes) -> ICudaEngine | None:
        try:
            with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
                onnx_bytes = zf.read("model.onnx")
                info = json.loads(zf.read("profile.json"))
        except (zipfile.BadZipFile, KeyError, ValueError):
            self.logger.messages.append("Serialization assertion failed")
            return None
        if info.get("flags", {}).get("host_code") and not self.engine_host_code_allowed:
            self.logger.messages.append("engine contains host code, which is not allowed")
            return None
        return ICudaEngine(onnx_bytes, info["profile"], info.get("flags", {}))


class FakeDevice:
    """Device memory as numpy byte arrays in `MEMORY`, keyed by integer pointers."""

    def __init__(self) -> None:
        self.allocated: set[int] = set()
        self.host_buffers: set[int] = set()  # ids of pinned host arrays not yet freed
        self.streams = 0
        self.syncs = 0

    def create_stream(self) -> int:
        self.streams += 1
        return self.streams

    def stream_handle(self, stream: Any) -> int:
        return int(stream)

    def alloc(self, nbytes: int) -> int:
        ptr = next(_POINTERS)
        MEMORY[ptr] = np.zeros(max(nbytes, 1), np.uint8)
        self.allocated.add(ptr)
        return ptr

    def alloc_host(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        array = np.zeros(shape, dtype)
        self.host_buffers.add(id(array))
        return array

    def free_host(self, array: np.ndarray) -> None:
        self.host_buffers.remove(id(array))  # KeyError: freed twice, or never allocated here

    def free(self, ptr: int) -> None:
        self.allocated.discard(ptr)
        MEMORY.pop(ptr, None)

    def copy_htod_async(self, dst: int, src: np.ndarray, stream: Any) -> None:
        data = np.ascontiguousarray(src).view(np.uint8).reshape(-1)
        MEMORY[dst][: data.size] = data

    def copy_dtoh_async(self, dst: np.ndarray, src: int, stream: Any) -> None:
        flat = dst.reshape(-1).view(np.uint8)
        flat[:] = MEMORY[src][: flat.size]

    def synchronize(self, stream: Any) -> None:
        self.syncs += 1


# --- builder ---------------------------------------------------------------------------------


class NetworkDefinitionCreationFlag(enum.IntEnum):
    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 1


class BuilderFlag(enum.Enum):
    FP16 = 0
    INT8 = 1
    VERSION_COMPATIBLE = 2


class MemoryPoolType(enum.Enum):
    WORKSPACE = 0


class ITensor:
    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        self.name = name
        self.shape = Dims(shape)


class INetworkDefinition:
    def __init__(self) -> None:
        self.onnx_bytes: bytes | None = None
        self._inputs: list[ITensor] = []

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    def get_input(self, index: int) -> ITensor:
        return self._inputs[index]


class OnnxParser:
    def __init__(self, network: INetworkDefinition, logger: Logger) -> None:
        self.network = network
        self._errors: list[str] = []

    def parse(self, data: bytes) -> bool:
        try:
            model = onnx.load_from_string(bytes(data))
        except Exception as exc:  # noqa: BLE001 - the fake reports like TensorRT: False + errors
            self._errors.append(f"could not parse ONNX: {exc}")
            return False
        initializers = {i.name for i in model.graph.initializer}
        for value in model.graph.input:
            if value.name not in initializers:
                dims = value.type.tensor_type.shape.dim
                self.network._inputs.append(
                    ITensor(value.name, tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims))
                )
        self.network.onnx_bytes = bytes(data)
        return True

    def parse_from_file(self, path: str) -> bool:
        with open(path, "rb") as handle:
            return self.parse(handle.read())

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> str:
        return self._errors[index]


class IOptimizationProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, list[list[int]]] = {}

    def set_shape(self, name: str, min: Iterable[int], opt: Iterable[int], max: Iterable[int]) -> None:  # noqa: A002
        self.shapes[name] = [list(min), list(opt), list(max)]


class ITimingCache:
    def __init__(self, data: bytes) -> None:
        self.data = bytes(data) or b"fake-timing-cache:"

    def serialize(self) -> bytes:
        return self.data


class IInt8EntropyCalibrator2:
    def __init__(self) -> None:
        pass


class IProgressMonitor:
    def __init__(self) -> None:
        pass


class BuilderFlag11(enum.Enum):
    """TensorRT 11's BuilderFlag: FP16, INT8, BF16, ... are gone (strong typing only)."""

    VERSION_COMPATIBLE = 2
    STRONGLY_TYPED = 3  # kept but ignored, as in TensorRT 11


class NetworkDefinitionCreationFlag11(enum.IntEnum):
    STRONGLY_TYPED = 1


def as_tensorrt_11(monkeypatch: Any) -> None:
    """Give this fake TensorRT 11's API (pytest's monkeypatch undoes it after the test)."""
    import sys

    module = sys.modules[__name__]
    monkeypatch.setattr(module, "__version__", "11.4.0")
    monkeypatch.setattr(module, "API_MAJOR", 11)
    monkeypatch.setattr(module, "BuilderFlag", BuilderFlag11)
    monkeypatch.setattr(module, "NetworkDefinitionCreationFlag", NetworkDefinitionCreationFlag11)
    monkeypatch.delattr(module, "IInt8EntropyCalibrator2")


def graph_precision(onnx_bytes: bytes) -> dict[str, bool]:
    """What a strongly typed builder would take from the graph: fp16 weights, Q/DQ pairs."""
    graph = onnx.load_from_string(onnx_bytes).graph
    return {
        "graph_fp16": any(i.data_type == onnx.TensorProto.FLOAT16 for i in graph.initializer),
        "graph_qdq": any(n.op_type == "QuantizeLinear" for n in graph.node),
    }


class IBuilderConfig:
    def __setattr__(self, name: str, value: Any) -> None:
        if API_MAJOR >= 11 and name == "int8_calibrator":
            raise AttributeError("'tensorrt.IBuilderConfig' object has no attribute 'int8_calibrator'")
        object.__setattr__(self, name, value)

    def __init__(self) -> None:
        self.flags: set[BuilderFlag] = set()
        self.pools: dict[MemoryPoolType, int] = {}
        self.profiles: list[IOptimizationProfile] = []
        if API_MAJOR < 11:
            self.int8_calibrator: Any = None
        self.progress_monitor: Any = None
        self._cache: ITimingCache | None = None

    def set_flag(self, flag: BuilderFlag) -> None:
        self.flags.add(flag)

    def get_flag(self, flag: BuilderFlag) -> bool:
        return flag in self.flags

    def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
        self.pools[pool] = size

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def create_timing_cache(self, data: bytes) -> ITimingCache:
        return ITimingCache(data)

    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool) -> bool:
        self._cache = cache
        return True

    def get_timing_cache(self) -> ITimingCache | None:
        return self._cache


class Builder:
    def __init__(self, logger: Logger) -> None:
        self.logger = logger
        self.platform_has_fast_fp16 = True
        self.platform_has_fast_int8 = True
        self.calibration_batches = 0

    def create_network(self, flags: int = 0) -> INetworkDefinition:
        return INetworkDefinition()

    def create_builder_config(self) -> IBuilderConfig:
        return IBuilderConfig()

    def create_optimization_profile(self) -> IOptimizationProfile:
        return IOptimizationProfile()

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> bytes | None:
        if network.onnx_bytes is None or not config.profiles:
            return None
        monitor = config.progress_monitor
        if monitor is not None:
            monitor.phase_start("Building engine", None, 2)
            monitor.step_complete("Building engine", 0)
        if API_MAJOR < 11 and BuilderFlag.INT8 in config.flags and config.int8_calibrator is not None:
            calibrator = config.int8_calibrator
            names = [t.name for t in network._inputs]
            while calibrator.get_batch(names):
                self.calibration_batches += 1
            calibrator.write_calibration_cache(b"fake-calibration")
        if monitor is not None:
            monitor.step_complete("Building engine", 1)
            monitor.phase_finish("Building engine")
        if config._cache is not None:
            config._cache.data += b"+timing"
        flags: dict[str, bool] = graph_precision(network.onnx_bytes)
        if API_MAJOR < 11:
            flags.update(fp16=BuilderFlag.FP16 in config.flags, int8=BuilderFlag.INT8 in config.flags)
        return pack_engine(network.onnx_bytes, config.profiles[0].shapes, **flags)
