"""`choose`: the one place that decides which decoder a source gets.

Today `auto` means PyAV, the only decoder there is. A new decoder (GStreamer, a hardware one) is
one module beside `pyav.py` and one line in `DECODERS`; `auto` may then weigh what the machine
has, and says why it chose what it did (`Choice.reason`), for `vigil check` and the API. A
decoder's module is imported only when it is chosen.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from vigil.errors import ConfigError, MissingDependencyError
from vigil.sources.decode.base import Decoder

__all__ = ["AUTO", "DECODERS", "Choice", "choose"]

AUTO = "auto"
# name -> "module:class", imported when chosen
DECODERS: dict[str, str] = {"pyav": "vigil.sources.decode.pyav:PyAVDecoder"}


@dataclass(frozen=True)
class Choice:
    """The decoder a source got, its name, and why (asked for by name, or what `auto` found)."""

    decoder: Decoder
    name: str
    reason: str


def choose(name: str | Decoder = AUTO) -> Choice:
    """The decoder called `name` (`auto`: the best one here), or a `Decoder` given as it is (a
    test's, a plugin's). An unknown name is a `ConfigError` that lists the known ones."""
    if not isinstance(name, str):
        return Choice(name, name.name, "given")
    if name == AUTO:
        return Choice(_load("pyav"), "pyav", "auto: PyAV is the only decoder available")
    if name not in DECODERS:
        known = ", ".join([AUTO, *DECODERS])
        raise ConfigError(f"decoder {name!r} is unknown; choose one of: {known}")
    return Choice(_load(name), name, "asked for by name")


def _load(name: str) -> Decoder:
    module_name, _, attribute = DECODERS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"decoder {name!r} cannot be loaded ({exc}); install what it needs, or choose decoder 'auto'"
        ) from exc
    decoder: Decoder = getattr(module, attribute)()
    return decoder
