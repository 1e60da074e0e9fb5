"""Event rules: the parts the `zones` stage (vigil.stages.zones) is made of, one module each, all
on the `EventRule` face (`base`). A rule is registered here by name with its factory, which
makes it for a stage's config or answers None when that config does not ask for it:

    lifecycle   object_start, object_end (and the object's clip)   always, first
    zones       zone_enter, zone_exit                               when there are zones
    lines       line_cross                                          when there are lines
    dwell       dwell                                               when a zone has a dwell time
    speeding    speeding                                            when a zone has a speed limit

A new rule is a module with an `EventRule` and one entry in `_BUILTIN` (or, from another
package, a `register_rule` call), plus the event types it makes, declared in the catalog
(`EventTypeKind` entries of vigil.catalog.builtin, or a plugin's):

    CATALOG.event_types.register(EventTypeKind("seen_twice", "...", "...", rule="seen_twice"))
    register_rule("seen_twice", lambda context: SeenTwice(context))
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

from vigil.stages.rules.base import Debounced, EventRule, FrameView, Moment, RuleContext, TrackedObject

__all__ = [
    "Debounced",
    "EventRule",
    "FrameView",
    "Moment",
    "RuleContext",
    "RuleFactory",
    "TrackedObject",
    "make_rules",
    "register_rule",
    "rule_names",
    "unregister_rule",
]

RuleFactory = Callable[[RuleContext], "EventRule | None"]

# name -> "module:class" whose classmethod `make` is the factory, imported when first made. The
# order is the order a frame goes through them: lifecycle first (it starts objects and opens
# their clips, which the other rules' events carry).
_BUILTIN: dict[str, str] = {
    "lifecycle": "vigil.stages.rules.lifecycle:LifecycleRule",
    "zones": "vigil.stages.rules.zones:ZoneRule",
    "lines": "vigil.stages.rules.lines:LineRule",
    "dwell": "vigil.stages.rules.dwell:DwellRule",
    "speeding": "vigil.stages.rules.speed:SpeedingRule",
}
_registered: dict[str, RuleFactory] = {}
_lock = threading.Lock()


def register_rule(name: str, factory: RuleFactory) -> None:
    """Add a rule to every zones stage made from now on, after the built-in ones (and those
    registered before it). `factory(context)` makes it for one source, or answers None."""
    with _lock:
        if name in _BUILTIN or name in _registered:
            raise ValueError(f"event rule '{name}' is registered already; pick another name")
        _registered[name] = factory


def unregister_rule(name: str) -> None:
    """Forget a rule `register_rule` added (stages made before keep it)."""
    if name in _BUILTIN:
        raise ValueError(f"event rule '{name}' is built in; it cannot be removed")
    with _lock:
        _registered.pop(name, None)


def rule_names() -> tuple[str, ...]:
    with _lock:
        return (*_BUILTIN, *_registered)


def make_rules(context: RuleContext) -> list[tuple[str, EventRule]]:
    """The rules `context.config` asks for, by name, in order."""
    with _lock:
        factories = [(name, _factory(target)) for name, target in _BUILTIN.items()] + list(_registered.items())
    made = [(name, factory(context)) for name, factory in factories]
    return [(name, rule) for name, rule in made if rule is not None]


def _factory(target: str) -> RuleFactory:
    module, _, cls = target.partition(":")
    factory: RuleFactory = getattr(importlib.import_module(module), cls).make
    return factory
