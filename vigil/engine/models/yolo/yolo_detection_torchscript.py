"""Ultralytics YOLO detection on torch (a TorchScript export, or a torch.export `.pt2`): the ONNX
runner's pre/post-processing over a `TorchSession` (torch is imported only when such a package
is loaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vigil.engine._private.package_format import ModelMetadata, PackageMetadata
from vigil.engine.models.yolo.yolo_detection_onnx import YOLODetectionONNX
from vigil.engine.options import BackendOptions


class TorchSessionMixin:
    """Opens the package's torch file instead of an onnxruntime session. A torch file does not
    describe its input, so the input shape comes from model.json (`input.size`, `dynamic_size`)
    and package.json (`batch`), checked by one run at load."""

    _session: Any

    @classmethod
    def _open_session(
        cls, package: PackageMetadata, folder: Path, backend: BackendOptions, model: ModelMetadata
    ) -> tuple[Path, Any]:
        from vigil.engine._private.torch_runtime import TORCH_SUFFIXES, TorchSession

        path = folder / package.main_file(TORCH_SUFFIXES).name
        return path, TorchSession.from_package(package, folder, model.input, backend)

    def _close_torch(self) -> None:
        if self._session is not None:
            self._session.close()


class YOLODetectionTorchScript(TorchSessionMixin, YOLODetectionONNX):
    """Boxes from an Ultralytics detection model on torch, with Ultralytics' pre- and
    post-processing (the same code as the ONNX runner)."""

    def close(self) -> None:
        self._close_torch()
        super().close()
