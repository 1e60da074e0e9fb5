"""Hypothesis strategies shared by the fuzz tests: hostile values and mutations of a valid
JSON/YAML-like document (wrong types, huge or special numbers, unicode, missing and extra keys)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Reproducible in CI: the same examples every run, nothing written to .hypothesis/.
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])

_TEXTS = st.sampled_from(
    [
        "",
        " ",
        "\n",
        "-1",
        "0",
        "1e999",
        "nan",
        "inf",
        "9" * 5000,
        "../../etc/passwd",
        "/dev/null",
        "${NOPE}",
        "${HOME}",
        "rtsp://",
        "rtsp://[::1/x",
        "rtsp://h:99999/",
        "é\u202e\U0001f600",
        "\x00",
        "a" * 300,
        "null",
        "true",
    ]
)

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**63, 10**30, -(10**30), 10**4000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    _TEXTS,
)

json_values = st.recursive(
    _SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(st.text(max_size=10), children, max_size=5)),
    max_leaves=20,
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into `doc` (mapping keys and list indices) down to 8 levels, the root included."""
    paths = [prefix]
    if len(prefix) >= 8:
        return paths
    if isinstance(doc, dict):
        for key, value in doc.items():
            paths += _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            paths += _paths(value, prefix + (index,))
    return paths


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutated(draw: st.DrawFn, base: Any, steps: int = 4, raw: str | None = None) -> Any:
    """`base` with a few random mutations: replace a value, delete a key, add a key, nest deeply,
    or (with `raw`) put that marker where the caller then writes a value no dumper would emit."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, steps))):
        path = draw(st.sampled_from(_paths(doc)))
        if not path:
            continue
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        kind = draw(st.sampled_from(["replace", "replace", "delete", "add", "deep"] + (["raw"] * 2 if raw else [])))
        if kind == "raw":
            parent[path[-1]] = raw
        elif kind == "replace":
            parent[path[-1]] = draw(json_values)
        elif kind == "delete":
            del parent[path[-1]]
        elif kind == "add" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.text(max_size=12))] = draw(json_values)
        elif kind == "deep":
            parent[path[-1]] = _nested(draw(st.sampled_from([10, 60, 300])))
    return doc
