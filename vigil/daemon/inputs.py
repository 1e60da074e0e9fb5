"""A camera's inputs (`sources[].inputs`: detect and record) in `/api/v1/streams` and `/metrics`.

Every RTSP camera reports its inputs (`RTSPSource.inputs`, `vigil.sources.rtsp.InputStatus`):
the detect input, and the record input when it has one. Metrics label them by role (`input` is
`detect` or `record`: two series at most per camera, never a URL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vigil.api.models import InputStream
from vigil.sources.base import SourceState

__all__ = ["InputsCollector", "describe_inputs"]


def describe_inputs(source: Any) -> list[InputStream]:
    """The inputs of `source` for `/api/v1/streams` (none for a source without inputs: files, webcams)."""
    return [
        InputStream(
            index=status.index,
            roles=list(status.roles),
            url=status.url,
            state=status.state,
            last_error=status.last_error,
            attempts=status.attempts,
            connections=status.connections,
            retry_in_s=round(status.retry_in_s, 3) if status.retry_in_s is not None else None,
            packets=status.packets,
            clock="camera" if status.clock == "camera" else "arrival",
        )
        for status in getattr(source, "inputs", ())
    ]


class InputsCollector(Collector):
    """Each camera input's state, connection attempts, connections and backoff, read at scrape time."""

    def __init__(self, sources: Callable[[], Sequence[Any]]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Any]:
        labels = ["source", "input"]
        state = GaugeMetricFamily("vigil_input_state", "1 for the state each camera input is in.", labels=[*labels, "state"])
        attempts = CounterMetricFamily("vigil_input_connect_attempts", "Connection attempts of each camera input.", labels=labels)
        connections = CounterMetricFamily(
            "vigil_input_connections", "Connections each camera input made (reconnects: one less).", labels=labels
        )
        backoff = GaugeMetricFamily(
            "vigil_input_backoff_seconds", "While an input reconnects: the wait before its next attempt (else 0).", labels=labels
        )
        packets = CounterMetricFamily("vigil_input_packets", "Packets a record input demuxed for the clips.", labels=labels)
        for source in self._sources():
            for status in getattr(source, "inputs", ()):
                key = [source.source_id, "record" if status.roles == ("record",) else "detect"]
                for s in SourceState:
                    state.add_metric([*key, s.value], 1.0 if status.state is s else 0.0)
                attempts.add_metric(key, status.attempts)
                connections.add_metric(key, status.connections)
                backoff.add_metric(key, status.retry_in_s or 0.0)
                if status.packets is not None:
                    packets.add_metric(key, status.packets)
        yield from (state, attempts, connections, backoff, packets)
