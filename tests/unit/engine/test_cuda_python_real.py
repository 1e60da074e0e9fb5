"""vigil's cuda-python device against the real cuda-python bindings on a machine without an
NVIDIA driver (this one): every call the TensorRT runner makes reaches the real library with
arguments it accepts (a wrong signature would raise TypeError before reaching CUDA), and the
driver's absence comes back as a ModelLoadError that names the call, the CUDA error and what to do.
On a GPU machine the gpu tests exercise the same calls for real, so this one skips there."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.engine._private.trt_runtime import CudaPythonDevice
from vigil.errors import ModelLoadError, VigilError

cudart = pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed")


@pytest.fixture
def device() -> CudaPythonDevice:
    err, count = cudart.cudaGetDeviceCount()
    if int(err) == 0 and count > 0:
        pytest.skip("a CUDA device is present: tests/gpu covers these calls for real")
    return CudaPythonDevice(cudart)


CALLS = {
    "cudaStreamCreate": lambda d: d.create_stream(),
    "cudaMalloc": lambda d: d.alloc(1024),
    "cudaMallocHost": lambda d: d.alloc_host((2, 3), np.dtype(np.float32)),
    "cudaFree": lambda d: d.free(0x1000),
    "cudaMemcpyAsync (host to device)": lambda d: d.copy_htod_async(0x1000, np.zeros(4, np.float32), 0),
    "cudaMemcpyAsync (device to host)": lambda d: d.copy_dtoh_async(np.zeros(4, np.float32), 0x1000, 0),
    "cudaStreamSynchronize": lambda d: d.synchronize(0),
    "cudaFreeHost": lambda d: d.free_host(np.zeros(4, np.float32)),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_real_cuda_python_without_a_driver_fails_each_call_clearly(device, call):
    with pytest.raises(ModelLoadError) as caught:
        CALLS[call](device)
    message = str(caught.value)
    assert message.startswith(f"{call} failed: CUDA error cuda")  # the error's name, not its repr
    assert "cudaErrorInsufficientDriver (35)" in message or "cudaErrorNoDevice (100)" in message
    assert "driver" in message or "device" in message
    assert isinstance(caught.value, VigilError)
