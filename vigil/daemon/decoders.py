"""The daemon's side of decoding: look for hardware decoders off the event loop before cameras on
`decoder: auto` are made, and say which decoder each stream got (`GET /api/v1/streams`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from vigil.api.models import DecoderChoice
from vigil.config import SourceConfig
from vigil.sources.base import Source
from vigil.sources.decode.auto import AUTO, Choice, probe_hardware

__all__ = ["describe_decoder", "look_for_decoders"]

log = logging.getLogger("vigil")
_told: list[str] = []  # what was logged (once per process)


async def look_for_decoders(configs: Iterable[SourceConfig]) -> None:
    """When a source asks for `auto`, look for hardware decoders now, on a worker thread (once
    per process: a probe takes up to a few seconds), so that making its camera on the event loop
    finds the answer kept."""
    if any(config.decoder == AUTO for config in configs):
        found = await asyncio.to_thread(probe_hardware)
        if not _told:
            _told.append(found)
            log.info("decoder auto: %s", found)


def describe_decoder(source: Source) -> DecoderChoice | None:
    """The decoder `source` got and why, and once its input is open, the codec and (GStreamer)
    the element decoding it; None for a source kind that has no decoder choice."""
    choice = getattr(source, "decoder_choice", None)
    if not isinstance(choice, Choice):
        return None
    codec, element = getattr(source, "decoding", None) or (None, None)
    return DecoderChoice(name=choice.name, reason=choice.reason, codec=codec, element=element)
