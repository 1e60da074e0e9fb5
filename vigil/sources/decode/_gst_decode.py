"""The decoding pipeline of the `gstreamer` decoder: the packets the source's plan takes, pushed
into an appsrc, decoded to I420, pulled from an appsink:

    appsrc ! [parser] ! decoder ! [nvvidconv ! video/x-raw,format=I420,width,height] ! videoconvert ! video/x-raw,format=I420 ! appsink

A picture is scaled to `InputSpec.output_size` and converted to BGR when the source asks for it
(`GstPicture`), as PyAV's are: the frames the sampler drops and the frame gates turn away are
never converted, and the gates read the luma plane as it is. A decoder whose pictures are in
device memory (a Jetson's) is scaled in the pipeline instead, by the element that copies them
out (`nvvidconv`, in hardware).

The decoder is the element `elements` names for the codec, else GStreamer's own choice: the
highest-ranked decoder installed for the stream's caps. A parser goes in front of it when it
cannot take the stream format the demuxer gives (a hardware decoder that reads byte-stream only).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

from vigil.sources.decode._gst_lib import Gst, bus_error, make
from vigil.sources.decode._gst_picture import GstPicture
from vigil.sources.decode.base import DecodeFailed

__all__ = ["DecodeBranch", "decoder_factory"]

QUEUED = 4  # packets waiting in the appsrc before feeding waits for the decoder
KEYS_KEPT = 64  # key packets remembered until their picture comes out
STALL_S = 30.0  # a decoder that takes no packet and gives no picture for this long has failed
# Decoders whose pictures are in device memory, and the element that brings them to system memory.
_DEVICE_MEMORY = {"nvv4l2decoder": "nvvidconv"}
_PARSERS = {"video/x-h264": "h264parse", "video/x-h265": "h265parse", "image/jpeg": "jpegparse"}


def decoder_factory(caps: Any, codec: str, elements: Mapping[str, str] | None) -> str | None:
    """The decoder element for `caps` (None: raw video, nothing to decode); LookupError when the
    named one, or any, is not installed."""
    if codec == "rawvideo":
        return None
    named = (elements or {}).get(codec)
    if named is not None:
        if Gst.ElementFactory.find(named) is None:
            raise LookupError(f"decoder element {named!r} (for {codec}) is not installed")
        return named
    kind = Gst.Caps.new_empty_simple(caps.get_structure(0).get_name())  # any stream format: a parser adapts it
    installed = Gst.ElementFactory.list_get_elements(Gst.ELEMENT_FACTORY_TYPE_DECODER, Gst.Rank.MARGINAL)
    fitting = Gst.ElementFactory.list_filter(installed, kind, Gst.PadDirection.SINK, False)
    found = [f for f in fitting if "Video" in (f.get_metadata("klass") or "")]
    if not found:
        raise LookupError(f"no GStreamer decoder for {codec} is installed (Debian: gstreamer1.0-libav)")
    return str(max(found, key=lambda f: f.get_rank()).get_name())


class DecodeBranch:
    """The decoding pipeline for one stream (see the module docstring); `feed` a packet's buffer
    and get the pictures that are ready, `finish` for the rest at the end."""

    def __init__(
        self, caps: Any, codec: str, elements: Mapping[str, str] | None, threads: int, output_size: tuple[int, int] | None
    ) -> None:
        self.element = decoder_factory(caps, codec, elements)
        self.offset_ns = 0  # from buffer time to stream time (the demuxer's segment)
        self.in_flight = QUEUED + (threads or os.cpu_count() or 1) + 2
        self.pipeline = Gst.Pipeline.new("vigil-decode")
        self.src = make("appsrc", format=Gst.Format.TIME, is_live=False, block=False, emit_signals=False, max_bytes=0, caps=caps)
        self.sink = make("appsink", sync=False, emit_signals=False, enable_last_sample=False, max_buffers=0, drop=False)
        self.decoder = make(self.element) if self.element else None
        in_pipeline = self.element in _DEVICE_MEMORY  # scaled in hardware on the way out of device memory
        self.output_size = None if in_pipeline else output_size  # scaled by each picture, when asked
        decoding = self._decoding(caps, threads, output_size if in_pipeline else None)
        chain = [self.src, *decoding, *_converters(), self.sink]
        for element in chain:
            self.pipeline.add(element)
        for upstream, downstream in zip(chain, chain[1:]):
            if not upstream.link(downstream):
                raise LookupError(f"GStreamer cannot link {_name(upstream)} to {_name(downstream)}")
        self._keys: dict[int, None] = {}  # the times of the key packets fed, oldest first
        self.pipeline.set_state(Gst.State.PLAYING)

    def _decoding(self, caps: Any, threads: int, output_size: tuple[int, int] | None) -> list[Any]:
        decoder = self.decoder
        if decoder is None:
            return []
        if decoder.find_property("max-threads") is not None:
            decoder.set_property("max-threads", threads)  # 0: one per core
        chain = [decoder]
        parser = _PARSERS.get(caps.get_structure(0).get_name())
        if parser and not decoder.get_factory().can_sink_all_caps(caps):
            chain.insert(0, make(parser))
        if self.element in _DEVICE_MEMORY:  # out of device memory, scaled on the way (in hardware)
            chain += [make(_DEVICE_MEMORY[self.element]), make("capsfilter", caps=_i420(output_size))]
        return chain

    def set_caps(self, caps: Any) -> None:
        """The stream's caps changed (a camera's new resolution): the next packets carry them."""
        self.src.set_property("caps", caps)

    def feed(self, buffer: Any, key: bool) -> Iterator[GstPicture]:
        """Push one packet; yield the pictures ready now, waiting for the decoder while more
        than `QUEUED` packets wait for it."""
        if key:
            self._keys[buffer.pts] = None
            if len(self._keys) > KEYS_KEPT:
                del self._keys[next(iter(self._keys))]
        result = self.src.emit("push-buffer", buffer)
        if result != Gst.FlowReturn.OK:
            self.check()
            raise DecodeFailed(f"the decoder refused a packet ({Gst.flow_get_name(result)})")
        yield from self._ready(0)
        waited = time.monotonic()
        while self.src.get_property("current-level-buffers") > QUEUED:
            got = 0
            for picture in self._ready(Gst.SECOND // 10):
                got += 1
                yield picture
            if got:
                waited = time.monotonic()
            elif time.monotonic() - waited > STALL_S:
                raise DecodeFailed(f"{self.element} took no packet for {STALL_S:g} s")

    def finish(self) -> Iterator[GstPicture]:
        """The end of the stream: every picture the decoder still holds."""
        self.src.emit("end-of-stream")
        waited = time.monotonic()
        while not self.sink.get_property("eos"):
            got = 0
            for picture in self._ready(Gst.SECOND // 4):
                got += 1
                yield picture
            if got:
                waited = time.monotonic()
            elif time.monotonic() - waited > STALL_S:
                raise DecodeFailed(f"{self.element} did not finish within {STALL_S:g} s")

    def _ready(self, wait_ns: int) -> Iterator[GstPicture]:
        """The pictures in the appsink, waiting up to `wait_ns` for the first."""
        sample = self.sink.emit("try-pull-sample", wait_ns)
        if sample is None:
            self.check()
        while sample is not None:
            buffer = sample.get_buffer()
            pts = (buffer.pts + self.offset_ns) / Gst.SECOND if buffer.pts != Gst.CLOCK_TIME_NONE else None
            yield GstPicture(buffer, pts, self._key(buffer.pts), self._size(sample.get_caps()), self.output_size)
            sample = self.sink.emit("try-pull-sample", 0)

    def _key(self, pts: int) -> bool:
        """Whether the picture at `pts` came from a key packet (decoders do not all say so)."""
        return self._keys.pop(pts, 0) is None

    @staticmethod
    def _size(caps: Any) -> tuple[int, int]:
        structure = caps.get_structure(0)
        return structure.get_int("width")[1], structure.get_int("height")[1]

    def check(self) -> None:
        message = self.pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if message is not None:
            raise DecodeFailed(bus_error(message))

    def reset(self) -> None:
        """Ready for a new pass (a file rewound): nothing held, no end of stream."""
        self.pipeline.set_state(Gst.State.NULL)
        self._keys.clear()
        self.pipeline.set_state(Gst.State.PLAYING)

    def close(self) -> None:
        self.pipeline.set_state(Gst.State.NULL)


def _i420(size: tuple[int, int] | None) -> Any:
    return Gst.Caps.from_string("video/x-raw,format=I420" + (f",width={size[0]},height={size[1]}" if size else ""))


def _converters() -> list[Any]:
    """To I420 at the size it comes (videoconvert; passthrough for a software decoder's I420)."""
    return [make("videoconvert"), make("capsfilter", caps=_i420(None))]


def _name(element: Any) -> str:
    return str(element.get_factory().get_name())
