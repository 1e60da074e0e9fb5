"""What every configuration section shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """Unknown keys are errors and a loaded section is frozen. A validation error never repeats
    the value it refused: that may be a token, or a camera URL holding a password."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
