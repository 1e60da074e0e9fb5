"""What every configuration section shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """Unknown keys are errors and a loaded section is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
