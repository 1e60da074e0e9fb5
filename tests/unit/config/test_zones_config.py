"""`sources[].zones` / `sources[].lines` and the `zones` stage: bad geometry is a config error
naming the key and the line of the YAML."""

from __future__ import annotations

import pytest

from vigil.config.loader import parse_config
from vigil.config.zones import self_intersection
from vigil.errors import ConfigError


def yaml(source: str) -> str:
    return f"model:\n  path: m.onnx\nsources:\n  - name: cam\n    url: clip.mp4\n{source}sinks:\n  - kind: jsonl\n    path: out.jsonl\n"


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "    zones:\n      - name: yard\n        polygon: [[0, 0], [10, 0]]\n",
            r"line 7: sources\[0\].zones\[0\]: .*zone 'yard': a polygon needs at least 3 points, got 2",
        ),
        (
            "    zones:\n      - name: bow\n        polygon: [[0, 0], [10, 10], [10, 0], [0, 10]]\n",
            r"line 7: sources\[0\].zones\[0\]: .*zone 'bow': the polygon crosses itself \(edge 0 meets edge 2\)",
        ),
        (
            "    zones:\n      - name: n\n        normalized: true\n        polygon: [[0, 0], [1.5, 0], [1, 1]]\n",
            r"line 7: sources\[0\].zones\[0\]: .*'n' is normalized: every coordinate is between 0 and 1",
        ),
        (
            "    lines:\n      - name: door\n        start: [5, 5]\n        end: [5, 5]\n",
            r"line 7: sources\[0\].lines\[0\]: .*line 'door': start and end are the same point",
        ),
        (
            "    lines:\n      - name: door\n        normalized: true\n        start: [0, 0]\n        end: [0, -0.1]\n",
            r"line 7: sources\[0\].lines\[0\]: .*'door' is normalized",
        ),
        (
            "    zones:\n      - name: z\n        polygon: [[0, 0], [10, 0], [10, 10]]\n        dwell_s: 0\n",
            r"line 9: sources\[0\].zones\[0\].dwell_s: Input should be greater than 0",
        ),
        (
            "    lines:\n      - name: door\n        start: [0, 0]\n        ends: [1, 1]\n",
            r"sources\[0\].lines\[0\].ends: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_zones_and_lines_name_the_key_and_line(source, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(yaml(source), "t.yaml", {})


def test_duplicate_names_in_a_zones_stage_are_an_error():
    stage = (
        "    stages:\n      - kind: zones\n        zones:\n"
        "          - {name: a, polygon: [[0, 0], [9, 0], [9, 9]]}\n"
        "          - {name: a, polygon: [[0, 0], [5, 0], [5, 5]]}\n"
    )
    with pytest.raises(ConfigError, match=r"line 7: sources\[0\].stages\[0\]: .*zone name 'a' is used twice"):
        parse_config(yaml(stage), "t.yaml", {})


def test_duplicate_names_in_sources_zones_are_an_error():
    zones = (
        "    zones:\n      - {name: a, polygon: [[0, 0], [9, 0], [9, 9]]}\n      - {name: a, polygon: [[0, 0], [5, 0], [5, 5]]}\n"
    )
    with pytest.raises(ConfigError, match=r"sources\[0\].*zone name 'a' is used twice"):
        parse_config(yaml(zones), "t.yaml", {})


def test_good_zones_and_lines_load():
    config = parse_config(
        yaml(
            "    zones:\n      - {name: yard, polygon: [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]], normalized: true, classes: [person]}\n"
            "    lines:\n      - {name: door, start: [640, 0], end: [640, 720]}\n"
        ),
        "t.yaml",
        {},
    )
    source = config.sources[0]
    assert source.zones[0].name == "yard" and source.lines[0].end == (640, 720)


@pytest.mark.parametrize(
    "polygon, crossing",
    [
        ([(0, 0), (10, 0), (10, 10), (0, 10)], None),
        ([(0, 0), (10, 0), (5, 5), (10, 10), (0, 10)], None),  # concave is fine
        ([(0, 0), (10, 10), (10, 0), (0, 10)], (0, 2)),  # a bow tie
        ([(0, 0), (10, 0), (5, 0), (5, 10)], (0, 1)),  # an edge folding back over the previous one
        ([(0, 0), (10, 0), (10, 0), (0, 10)], (0, 1)),  # a repeated corner
        ([(0, 0), (10, 0), (10, 10), (5, 0), (0, 10)], (0, 2)),  # a corner touching another edge
    ],
)
def test_self_intersection_finds_crossing_edges(polygon, crossing):
    assert self_intersection(polygon) == crossing
