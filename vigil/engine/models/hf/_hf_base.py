"""What every hf family shares: loading through `hf_runtime`, identity, batching, closing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from vigil.engine._private.hf_runtime import HFLoaded, load_hf
from vigil.engine._private.package_format import ModelMetadata, PackageMetadata
from vigil.engine.base import BatchSpec
from vigil.engine.options import BackendOptions, DetectionOptions

Self = TypeVar("Self", bound="HFModelBase")


class HFModelBase:
    model_id: str
    package_id: str
    package_dir: Path
    class_names: tuple[str, ...]
    batch: BatchSpec

    def __init__(
        self, model: ModelMetadata, package: PackageMetadata, folder: Path, loaded: HFLoaded, options: DetectionOptions
    ) -> None:
        self.model_id = model.model_id
        self.package_id = package.package_id
        self.package_dir = folder
        self.class_names = model.class_names
        self.batch = package.batch.to_spec()
        self.backend = package.backend.value
        self.options = options
        self.torch = loaded.torch
        self.net = loaded.model
        self.processor = loaded.processor
        self.device = loaded.device

    @classmethod
    def from_package(
        cls: type[Self],
        model: ModelMetadata,
        package: PackageMetadata,
        folder: Path,
        options: DetectionOptions,
        backend: BackendOptions,
    ) -> Any:
        return cls(model, package, folder, load_hf(model, package, folder, backend), options)

    def _to_device(self, inputs: Any) -> dict[str, Any]:
        return {key: value.to(self.device) for key, value in inputs.items()}

    def _tensor(self, value: Any) -> Any:
        """A torch tensor carried in `PreparedBatch.tensor` (typed for numpy), on the device."""
        return value.to(self.device)

    def close(self) -> None:
        self.net = None
