"""The daemon's models as `GET /api/v1/models` describes them."""

from __future__ import annotations

from collections.abc import Mapping

from vigil.api.models import BatchInfo, ModelInfo
from vigil.config import SourceConfig
from vigil.config.daemon import DaemonConfig
from vigil.pipeline.runner import Pipeline
from vigil.redact import mask_url
from vigil.stages.cascade import CascadeStep

__all__ = ["describe_models"]


def describe_models(
    config: DaemonConfig, pipeline: Pipeline, steps: Mapping[str, CascadeStep], cameras: Mapping[str, SourceConfig]
) -> list[ModelInfo]:
    """Every model of `config` by name: the package each resolved to, its batch, and the
    `cameras` running it on frames (`sources`) or on crops (`cascades`)."""
    out = []
    for name, entry in config.model_entries().items():
        lane = pipeline.lanes.get(name)
        model = lane.model if lane is not None else steps[name].model
        batch = model.batch
        out.append(
            ModelInfo(
                name=name,
                model_id=model.model_id,
                package_id=getattr(model, "package_id", None),
                reference=mask_url(entry.path),
                kind=type(model).__name__,
                classes=list(getattr(model, "class_names", ())),
                batch=BatchInfo(min=batch.min, opt=batch.opt, max=batch.max, static=batch.static),
                batch_size=lane.batch_size if lane is not None else batch.batch_limit(config.batch_for(name).max_batch),
                sources=[s for s, c in cameras.items() if name in config.models_of(c)],
                cascades=[s for s, c in cameras.items() if any(k.model == name for k in c.cascades)],
            )
        )
    return out
