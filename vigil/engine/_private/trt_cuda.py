"""The CUDA operations the TensorRT runner needs (`Device`), on cuda-python's runtime API or on
pycuda. Which binding is used, and when it is imported, is decided by `trt_runtime.default_device()`:
never at import of this module.
"""

from __future__ import annotations

import ctypes
from typing import Any, Protocol

import numpy as np

from vigil.errors import ModelLoadError

__all__ = ["CUDA_HINT", "CudaPythonDevice", "Device", "PycudaDevice"]

CUDA_HINT = "no CUDA Python binding: pip install cuda-python (or pycuda); on a Jetson see docs/JETSON.md"


class Device(Protocol):
    """The few CUDA operations the runner needs; `FakeDevice` in the tests implements them on numpy."""

    def create_stream(self) -> Any: ...

    def stream_handle(self, stream: Any) -> int: ...

    def alloc(self, nbytes: int) -> int: ...

    def alloc_host(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray: ...

    def free_host(self, array: np.ndarray) -> None: ...

    def free(self, ptr: int) -> None: ...

    def copy_htod_async(self, dst: int, src: np.ndarray, stream: Any) -> None: ...

    def copy_dtoh_async(self, dst: np.ndarray, src: int, stream: Any) -> None: ...

    def synchronize(self, stream: Any) -> None: ...


class CudaPythonDevice:
    """cuda-python's runtime API (`cudart`). Every call returns (error, value...)."""

    def __init__(self, cudart: Any) -> None:
        self._rt = cudart

    def _check(self, result: Any, call: str) -> Any:
        err, *values = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            raise ModelLoadError(f"{call} failed: CUDA error {self._error_name(err)} ({int(err)}); {self._hint(int(err))}")
        return values[0] if len(values) == 1 else values

    def _error_name(self, err: Any) -> str:
        try:
            name = self._rt.cudaGetErrorName(err)[1]
        except Exception:  # noqa: BLE001 - naming the error must not hide it
            return str(err)
        return name.decode() if isinstance(name, bytes) else str(name)

    @staticmethod
    def _hint(code: int) -> str:
        if code == 35:  # cudaErrorInsufficientDriver
            return (
                "the NVIDIA driver is missing or older than this cuda-python's CUDA: install the driver, "
                "or a cuda-python whose major version matches `nvidia-smi`'s CUDA version"
            )
        if code == 100:  # cudaErrorNoDevice
            return "no CUDA device is visible to this process (check CUDA_VISIBLE_DEVICES and /dev/nvidia*)"
        if code == 2:  # cudaErrorMemoryAllocation
            return "out of GPU memory: lower the batch size or run fewer models on this GPU"
        return "see the NVIDIA driver's log (dmesg) for details"

    def create_stream(self) -> Any:
        return self._check(self._rt.cudaStreamCreate(), "cudaStreamCreate")

    def stream_handle(self, stream: Any) -> int:
        return int(stream)

    def alloc(self, nbytes: int) -> int:
        return int(self._check(self._rt.cudaMalloc(max(nbytes, 1)), "cudaMalloc"))

    def alloc_host(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        nbytes = max(int(np.prod(shape)) * np.dtype(dtype).itemsize, 1)
        ptr = int(self._check(self._rt.cudaMallocHost(nbytes), "cudaMallocHost"))
        raw = (ctypes.c_byte * nbytes).from_address(ptr)
        array: np.ndarray = np.ctypeslib.as_array(raw).view(dtype)[: int(np.prod(shape))].reshape(shape)
        return array

    def free_host(self, array: np.ndarray) -> None:
        # The array views the pinned block from its start, so its address is the allocation's.
        self._check(self._rt.cudaFreeHost(array.ctypes.data), "cudaFreeHost")

    def free(self, ptr: int) -> None:
        self._check(self._rt.cudaFree(ptr), "cudaFree")

    def copy_htod_async(self, dst: int, src: np.ndarray, stream: Any) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check(self._rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, stream), "cudaMemcpyAsync (host to device)")

    def copy_dtoh_async(self, dst: np.ndarray, src: int, stream: Any) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(self._rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, stream), "cudaMemcpyAsync (device to host)")

    def synchronize(self, stream: Any) -> None:
        self._check(self._rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")


class PycudaDevice:
    """pycuda's driver API on the device's primary context (pushed around every call, so any
    thread may use it)."""

    def __init__(self, driver: Any) -> None:
        driver.init()
        self._cuda = driver
        self._context = driver.Device(0).retain_primary_context()
        self._keep: dict[int, Any] = {}

    def _push(self) -> None:
        self._context.push()

    def _pop(self) -> None:
        self._cuda.Context.pop()

    def create_stream(self) -> Any:
        self._push()
        try:
            return self._cuda.Stream()
        finally:
            self._pop()

    def stream_handle(self, stream: Any) -> int:
        return int(stream.handle)

    def alloc(self, nbytes: int) -> int:
        self._push()
        try:
            allocation = self._cuda.mem_alloc(max(nbytes, 1))
        finally:
            self._pop()
        self._keep[int(allocation)] = allocation
        return int(allocation)

    def alloc_host(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        self._push()
        try:
            array: np.ndarray = self._cuda.pagelocked_empty(shape, dtype)
            return array
        finally:
            self._pop()

    def free_host(self, array: np.ndarray) -> None:
        release = getattr(array.base, "free", None)  # pycuda's HostAllocation; else the GC frees it
        if release is not None:
            self._push()
            try:
                release()
            finally:
                self._pop()

    def free(self, ptr: int) -> None:
        allocation = self._keep.pop(ptr, None)
        if allocation is not None:
            self._push()
            try:
                allocation.free()
            finally:
                self._pop()

    def copy_htod_async(self, dst: int, src: np.ndarray, stream: Any) -> None:
        self._push()
        try:
            self._cuda.memcpy_htod_async(dst, src, stream)
        finally:
            self._pop()

    def copy_dtoh_async(self, dst: np.ndarray, src: int, stream: Any) -> None:
        self._push()
        try:
            self._cuda.memcpy_dtoh_async(dst, src, stream)
        finally:
            self._pop()

    def synchronize(self, stream: Any) -> None:
        self._push()
        try:
            stream.synchronize()
        finally:
            self._pop()
