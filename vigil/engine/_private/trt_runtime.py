"""TensorRT engines (package backend `trt`): deserialise, set shapes, run. Imported only for TRT packages.

`tensorrt` and a CUDA binding (cuda-python, else pycuda) are imported lazily by `load_tensorrt()`
and `default_device()`, never at import of this module. Tests replace both through
`set_import_hook()` with the fake in tests/support/fake_tensorrt.py.

The TensorRT 10 I/O tensor API is used throughout (`num_io_tensors`, `get_tensor_name`,
`get_tensor_mode`, `set_input_shape`, `set_tensor_address`, `execute_async_v3`). One execution
context (with its stream and buffers) serves one inference at a time; a small pool lets several
threads run the same engine concurrently. The CUDA bindings behind `Device` are in `trt_cuda`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.engine._private.package_format import BatchRange, PackageMetadata
from vigil.engine._private.trt_cuda import CUDA_HINT, CudaPythonDevice, Device, PycudaDevice
from vigil.errors import MissingDependencyError, ModelInputError, ModelLoadError

__all__ = [
    "TENSORRT_HINT",
    "CudaPythonDevice",
    "Device",
    "PycudaDevice",
    "TensorInfo",
    "TrtRunner",
    "TrtSession",
    "default_device",
    "load_tensorrt",
    "set_import_hook",
]

log = logging.getLogger(__name__)

TENSORRT_HINT = (
    "TensorRT is not installed: pip install 'vigil-analytics[trt]' (tensorrt, cuda-python) on a machine with an NVIDIA GPU; "
    "on a Jetson use the system's TensorRT from JetPack (apt install nvidia-tensorrt python3-libnvinfer) and a venv "
    "created with --system-site-packages (docs/JETSON.md)"
)


# () -> (tensorrt module, Device). None: import the real ones.
_IMPORT_HOOK: Callable[[], tuple[Any, Device]] | None = None


def set_import_hook(hook: Callable[[], tuple[Any, Device]] | None) -> None:
    """Replace how the tensorrt module and the CUDA device are obtained (tests: the fake)."""
    global _IMPORT_HOOK
    _IMPORT_HOOK = hook


def load_tensorrt() -> Any:
    if _IMPORT_HOOK is not None:
        return _IMPORT_HOOK()[0]
    try:
        import tensorrt
    except ImportError as exc:
        raise MissingDependencyError(TENSORRT_HINT) from exc
    return tensorrt


def default_device() -> Device:
    if _IMPORT_HOOK is not None:
        return _IMPORT_HOOK()[1]
    try:
        try:
            from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
        except ImportError:
            from cuda import cudart  # older cuda-python
        return CudaPythonDevice(cudart)
    except ImportError:
        pass
    try:
        import pycuda.driver as pycuda_driver
    except ImportError as exc:
        raise MissingDependencyError(CUDA_HINT) from exc
    return PycudaDevice(pycuda_driver)


@dataclass(frozen=True)
class TensorInfo:
    """One I/O tensor of the engine. `shape` has -1 for dynamic dimensions; `profile` is the
    (min, opt, max) shapes of optimisation profile 0, for inputs."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    profile: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None = None


@dataclass
class _Buffer:
    capacity: int = 0
    device: int = 0
    host: np.ndarray | None = None


@dataclass
class _Slot:
    """An execution context with its own stream and buffers: one inference at a time."""

    context: Any
    stream: Any
    buffers: dict[str, _Buffer] = field(default_factory=dict)


def engine_batch(inputs: Sequence[TensorInfo]) -> BatchRange:
    """The batch range the engine accepts: dimension 0 of its first input (fixed, or profile 0)."""
    first = inputs[0]
    if first.shape and first.shape[0] > 0:
        return BatchRange(static=first.shape[0])
    assert first.profile is not None
    low, opt, high = (first.profile[i][0] for i in range(3))
    if low == high:
        return BatchRange(static=low)
    return BatchRange(min=low, opt=opt, max=high)


def check_batch_agrees(package_id: str, declared: BatchRange, engine: BatchRange) -> None:
    """package.json's batch must describe the engine's profile; otherwise the batcher would form
    batches the engine refuses (or never use sizes it was tuned for)."""
    d, e = declared.to_spec(), engine.to_spec()
    agree = d.min == e.min and d.max == e.max and (d.opt is None or e.opt is None or d.opt == e.opt)
    if not agree:
        raise ModelLoadError(
            f"package '{package_id}': package.json says batch {declared.describe()} but the engine's optimisation "
            f"profile takes batch {engine.describe()}; rebuild the engine or fix package.json"
        )


class TrtRunner:
    """A deserialised engine and a pool of execution contexts. `run(feeds)` returns the outputs
    as numpy arrays, in the engine's output order."""

    def __init__(
        self,
        engine_bytes: bytes,
        *,
        name: str,
        allow_host_code: bool = False,
        max_contexts: int = 2,
        trt: Any = None,
        device: Device | None = None,
    ) -> None:
        self.trt = trt if trt is not None else load_tensorrt()
        self.device: Device = device if device is not None else default_device()
        self.name = name
        self._logger = self.trt.Logger(self.trt.Logger.WARNING)
        self._runtime = self.trt.Runtime(self._logger)
        if hasattr(self._runtime, "engine_host_code_allowed"):
            # Host code in an engine is code execution: only when package.json declares it (and
            # the resolver therefore required allow_untrusted). Plugin libraries are never loaded here.
            self._runtime.engine_host_code_allowed = allow_host_code
        engine = self._runtime.deserialize_cuda_engine(engine_bytes)
        if engine is None:
            raise ModelLoadError(
                f"{name}: TensorRT could not deserialise the engine (built with another TensorRT version or for "
                "another GPU, needs plugins or host code, or the file is damaged); rebuild it here with "
                "`vigil models build-engine`"
            )
        self.engine = engine
        self.inputs, self.outputs = self._describe(engine)
        if not self.inputs or not self.outputs:
            raise ModelLoadError(f"{name}: the engine has {len(self.inputs)} inputs and {len(self.outputs)} outputs")
        self._max_contexts = max(1, max_contexts)
        self._created = 0
        self._lock = threading.Lock()
        self._idle: queue.LifoQueue[_Slot] = queue.LifoQueue()
        self._slots: list[_Slot] = []
        self._idle.put(self._new_slot())  # fail at load, not on the first frame

    def _describe(self, engine: Any) -> tuple[list[TensorInfo], list[TensorInfo]]:
        trt = self.trt
        inputs, outputs = [], []
        for i in range(engine.num_io_tensors):
            tensor = engine.get_tensor_name(i)
            shape = tuple(int(d) for d in engine.get_tensor_shape(tensor))
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(tensor)))
            if engine.get_tensor_mode(tensor) == trt.TensorIOMode.INPUT:
                profile = None
                if any(d < 0 for d in shape):
                    low, opt, high = engine.get_tensor_profile_shape(tensor, 0)
                    profile = (tuple(int(d) for d in low), tuple(int(d) for d in opt), tuple(int(d) for d in high))
                inputs.append(TensorInfo(tensor, shape, dtype, profile))
            else:
                outputs.append(TensorInfo(tensor, shape, dtype))
        return inputs, outputs

    def batch(self) -> BatchRange:
        return engine_batch(self.inputs)

    def _new_slot(self) -> _Slot:
        context = self.engine.create_execution_context()
        if context is None:
            raise ModelLoadError(f"{self.name}: TensorRT could not create an execution context (out of GPU memory?)")
        slot = _Slot(context, self.device.create_stream())
        self._created += 1
        self._slots.append(slot)
        return slot

    def _acquire(self) -> _Slot:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._created < self._max_contexts:
                return self._new_slot()
        return self._idle.get()

    def check_shape(self, info: TensorInfo, shape: tuple[int, ...]) -> None:
        low, high = (info.shape, info.shape) if info.profile is None else (info.profile[0], info.profile[2])
        if len(shape) != len(info.shape) or any(not lo <= s <= hi for s, lo, hi in zip(shape, low, high)):
            raise ModelInputError(
                f"{self.name}: input '{info.name}' of shape {list(shape)} is outside the engine's optimisation profile "
                f"{list(low)}..{list(high)}; split the batch or rebuild the engine with a wider --batch range"
            )

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays = {}
        for info in self.inputs:
            if info.name not in feeds:
                raise ModelInputError(f"{self.name}: missing input '{info.name}'")
            array = np.ascontiguousarray(feeds[info.name], dtype=info.dtype)
            self.check_shape(info, array.shape)
            arrays[info.name] = array
        slot = self._acquire()
        try:
            return self._execute(slot, arrays)
        finally:
            self._idle.put(slot)

    def _buffer(self, slot: _Slot, name: str, shape: tuple[int, ...], dtype: np.dtype) -> _Buffer:
        nbytes = int(np.prod(shape)) * dtype.itemsize
        buffer = slot.buffers.setdefault(name, _Buffer())
        if buffer.capacity < nbytes:
            if buffer.capacity:
                self.device.free(buffer.device)
            if buffer.host is not None:
                self.device.free_host(buffer.host)
            buffer.device = self.device.alloc(nbytes)
            buffer.host = self.device.alloc_host((max(nbytes // dtype.itemsize, 1),), dtype)
            buffer.capacity = nbytes
        return buffer

    def _execute(self, slot: _Slot, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        context, device, stream = slot.context, self.device, slot.stream
        for name, array in arrays.items():
            if not context.set_input_shape(name, tuple(array.shape)):
                raise ModelInputError(f"{self.name}: TensorRT refused shape {list(array.shape)} for input '{name}'")
            buffer = self._buffer(slot, name, array.shape, array.dtype)
            assert buffer.host is not None
            staged = buffer.host[: array.size].reshape(array.shape)
            np.copyto(staged, array)
            device.copy_htod_async(buffer.device, staged, stream)
            context.set_tensor_address(name, buffer.device)
        results = []
        for info in self.outputs:
            shape = tuple(int(d) for d in context.get_tensor_shape(info.name))
            if any(d < 0 for d in shape):
                raise ModelLoadError(f"{self.name}: output '{info.name}' has a data-dependent shape {list(shape)}; not supported")
            buffer = self._buffer(slot, info.name, shape, info.dtype)
            context.set_tensor_address(info.name, buffer.device)
            results.append((info, shape, buffer))
        if not context.execute_async_v3(device.stream_handle(stream)):
            raise ModelLoadError(f"{self.name}: TensorRT execution failed (see the TensorRT log above)")
        outs = []
        for _info, shape, buffer in results:
            assert buffer.host is not None
            host = buffer.host[: int(np.prod(shape))].reshape(shape)
            device.copy_dtoh_async(host, buffer.device, stream)
            outs.append(host)
        device.synchronize(stream)
        return [out.copy() for out in outs]

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait()
            except queue.Empty:
                break
        for slot in self._slots:
            for buffer in slot.buffers.values():
                if buffer.capacity:
                    self.device.free(buffer.device)
                if buffer.host is not None:
                    self.device.free_host(buffer.host)
                    buffer.host = None
            slot.buffers.clear()
        self._slots.clear()


@dataclass(frozen=True)
class _Arg:
    """What onnxruntime's NodeArg offers the YOLO runners: a name and a shape (str: dynamic)."""

    name: str
    shape: list[int | str]
    type: str = "tensor(float)"


@dataclass(frozen=True)
class _ModelMeta:
    custom_metadata_map: dict[str, str]


METADATA_FILE = "metadata.json"


class TrtSession:
    """An onnxruntime.InferenceSession look-alike over a `TrtRunner` (`get_inputs`, `get_outputs`,
    `get_modelmeta`, `run(None, feeds)`), so the ONNX runners' pre/post-processing is reused as is.

    A dimension is reported fixed when the engine fixes it or its profile has min == max.
    `get_modelmeta()` reads the ONNX metadata the builder copied into `metadata.json`."""

    def __init__(self, runner: TrtRunner, metadata: dict[str, str] | None = None) -> None:
        self.runner = runner
        self._metadata = dict(metadata or {})

    @classmethod
    def from_package(cls, package: PackageMetadata, folder: Path, *, trt: Any = None, device: Device | None = None) -> TrtSession:
        engine_file = package.main_file((".engine", ".plan", ".trt"))
        path = folder / engine_file.name
        runner = TrtRunner(
            path.read_bytes(),
            name=f"package '{package.package_id}' ({path})",
            allow_host_code=bool(package.trt and package.trt.host_code),
            trt=trt,
            device=device,
        )
        try:
            check_batch_agrees(package.package_id, package.batch, runner.batch())
        except ModelLoadError:
            runner.close()
            raise
        metadata: dict[str, str] = {}
        if METADATA_FILE in {f.name for f in package.files}:
            try:
                loaded = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ModelLoadError(f"package '{package.package_id}': {METADATA_FILE} unreadable ({exc})") from exc
            metadata = {str(k): str(v) for k, v in loaded.items()}
        return cls(runner, metadata)

    @staticmethod
    def _dims(info: TensorInfo, labels: Sequence[str]) -> list[int | str]:
        dims: list[int | str] = []
        for i, d in enumerate(info.shape):
            if d > 0:
                dims.append(d)
            elif info.profile is not None and info.profile[0][i] == info.profile[2][i]:
                dims.append(info.profile[0][i])
            else:
                dims.append(labels[i] if i < len(labels) else f"d{i}")
        return dims

    def get_inputs(self) -> list[_Arg]:
        return [_Arg(i.name, self._dims(i, ("batch", "channels", "height", "width"))) for i in self.runner.inputs]

    def get_outputs(self) -> list[_Arg]:
        return [_Arg(o.name, self._dims(o, ("batch",))) for o in self.runner.outputs]

    def get_modelmeta(self) -> _ModelMeta:
        return _ModelMeta(self._metadata)

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        outputs = self.runner.run(feeds)
        if output_names is None:
            return outputs
        order = [o.name for o in self.runner.outputs]
        return [outputs[order.index(name)] for name in output_names]

    def close(self) -> None:
        self.runner.close()
