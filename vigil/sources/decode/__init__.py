"""Decoders: what turns a source's input into pictures (`base.Decoder`), one module each
(`pyav`), and `auto.choose`, which picks one for a source. Importing this package imports no
decoder library."""

from vigil.sources.decode.auto import Choice, choose
from vigil.sources.decode.base import (
    DecodeFailed,
    DecodePlan,
    Decoder,
    DecoderInput,
    InputSpec,
    NoVideoStream,
    OpenFailed,
    PacketSink,
    Picture,
    StreamInfo,
)

__all__ = [
    "Choice",
    "DecodeFailed",
    "DecodePlan",
    "Decoder",
    "DecoderInput",
    "InputSpec",
    "NoVideoStream",
    "OpenFailed",
    "PacketSink",
    "Picture",
    "StreamInfo",
    "choose",
]
