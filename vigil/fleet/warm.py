"""Before a box joins the fleet: what starting its first camera would do on the event loop the
first time, done on a worker thread instead. A camera's first start imports its stages' libraries
(the tracker and supervision, which bring scipy: ~1 s here; PyAV: ~0.2 s) and probes for hardware
decoders; done during a hand-over, that was a second more of dark time and a second of a stalled
event loop. The box joins (heartbeats) only once it is warm, so the others hand it nothing before."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vigil.errors import VigilError
from vigil.fleet.store import camera_config
from vigil.sources.decode.auto import AUTO, probe_hardware

__all__ = ["Warmth", "warm_up", "what_to_warm"]

# The libraries a stage kind imports when it is made (vigil.stages.tracking, vigil.stages.zones).
_STAGE_IMPORTS = {"tracking": ("trackers", "supervision"), "zones": ("supervision",)}
_SOURCE_IMPORTS = ("av",)  # PyAV: what decoder `auto` picks without hardware decoders, and probes with


@dataclass(frozen=True)
class Warmth:
    """What the fleet's cameras do the first time one starts: import `modules`, and `probe` for
    hardware decoders (a camera with decoder `auto`)."""

    modules: tuple[str, ...] = ()
    probe: bool = False


def what_to_warm(cameras: Mapping[str, Mapping[str, Any]]) -> Warmth:
    """For the fleet's cameras (their entries as in the bucket; an entry that does not validate
    counts for nothing: it does not start)."""
    wanted: dict[str, None] = {}
    probe = False
    for name, entry in cameras.items():
        try:
            config = camera_config(name, entry)
        except VigilError:
            continue
        wanted.update(dict.fromkeys(_SOURCE_IMPORTS))
        probe = probe or config.decoder == AUTO
        for kind in sorted({spec.kind for spec in config.stages} | set(config.implied_stages())):
            wanted.update(dict.fromkeys(_STAGE_IMPORTS.get(kind, ())))
    return Warmth(tuple(wanted), probe)


def warm_up(warmth: Warmth) -> list[str]:
    """Import `warmth.modules` and probe for hardware decoders when asked (blocking: call it on a
    worker thread); the modules imported (one missing is the camera's own error when it starts)."""
    done = []
    for module in warmth.modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
            done.append(module)
    if warmth.probe:
        probe_hardware()
    return done
