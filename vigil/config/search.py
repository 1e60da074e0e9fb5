"""The `search` section: events made searchable by text and by likeness (`vigil.store.search`)."""

from __future__ import annotations

from pydantic import Field

from vigil.config._section import Section

__all__ = ["SearchConfig"]


class SearchConfig(Section):
    """`search: {model: models/clip}`: each event's picture of its object is embedded with an
    image-text embedding model (an `hf` CLIP package) and kept, so `GET /api/v1/events/search?q=red+car`
    ranks events by how well their pictures match the text, and `?like=EVENT_ID` by how alike they look."""

    model: str = Field(min_length=1, description="An embedding model (EmbeddingModel: a CLIP `hf` package or folder).")
    database: str | None = Field(
        None,
        min_length=1,
        description="SQLite file keeping the events' vectors across restarts (default: beside the API state file).",
    )
    max_events: int = Field(100_000, ge=100, le=10_000_000, description="Most events kept searchable; the oldest go first.")
    pad: float = Field(0.1, ge=0.0, le=1.0, description="Margin around the object's box in its picture, as a share of the box.")
    batch: int = Field(8, ge=1, le=64, description="Most pictures embedded in one call.")
    describe: str | None = Field(
        None,
        min_length=1,
        description="A vision-language model (a BLIP hf package) that writes each event's `description` from its "
        "picture, kept with the event and shown in search results (null: none; it costs a generation per event).",
    )
    describe_prompt: str = Field(
        "a picture of",
        min_length=1,
        max_length=200,
        description="What the describing model is asked: a captioner continues it, a question answerer answers it.",
    )
