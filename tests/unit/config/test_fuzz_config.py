"""Fuzzing the configuration loader: whatever a file holds, the only error that leaves it is a
`ConfigError` (a VigilError), never a traceback. Reproducible: see tests/support/fuzz.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzz import FUZZ, json_values, mutated
from vigil.config.loader import load_config, parse_config
from vigil.errors import VigilError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "vigil.yaml"
BASE = yaml.safe_load(EXAMPLE.read_text())

_FRAGMENTS = st.sampled_from(
    [
        "model:",
        "\n",
        "  ",
        "- ",
        ": ",
        "&a ",
        "*a",
        "*b",
        "&b ",
        "!!int ",
        "!!float ",
        "!!str ",
        "!!binary ",
        "!!timestamp ",
        "!!python/object:os.system ",
        "!!set ",
        "!!omap ",
        "!x ",
        "? ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "'",
        '"',
        "#",
        "|",
        ">",
        "---\n",
        "...\n",
        "<<: *a",
        "${X}",
        "${X:-d}",
        "${",
        "%YAML 1.1\n",
        "%TAG ! tag:x,2000:\n",
        "\t",
        "\ufeff",
        "\x85",
        "\x00",
        "\\",
        "9" * 5000,
        "1:2:3",
        "0x",
        "0o7",
        ".inf",
        ".nan",
        "~",
        "sources:",
        "path: m.onnx",
        "url: rtsp://",
        "api: {token_file: /dev/zero}",
        "name: a",
        "jsonl: {path: r}",
        "max_batch: ",
        "é",
        "\U0001f600",
    ]
)

# Values written into the YAML as they are (not through a dumper): what a dumper would never emit.
_BOMB = (
    "[&a [1, 1, 1, 1, 1, 1, 1, 1, 1], "
    + ", ".join(f"&{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8))
    + "]"
)
_RAW = st.sampled_from(
    [
        "9" * 5000,
        "-" + "9" * 4400,
        "0x" + "f" * 5000,
        ":".join(["1"] * 3000),
        "!!int abc",
        "!!int",
        "!!float x",
        "!!bool maybe",
        "!!timestamp 2020-13-45",
        "!!timestamp x",
        "!!binary abc",
        "!!binary '!'",
        "!!null x",
        "&r [*r]",
        "&r {a: *r}",
        "&r {a: [1, {b: *r}]}",
        "*undefined",
        "!!python/object:os.system {}",
        "!!python/name:os.system ''",
        "!custom x",
        "!!set {a, b}",
        "!!omap [a: 1]",
        "!!omap [1]",
        "!!pairs [a]",
        "{? [a]: 1}",
        "{? {a: 1}: 2}",
        "[" * 60 + "]" * 60,
        "[" * 3000 + "]" * 3000,
        "{a: " * 60 + "1" + "}" * 60,
        _BOMB,
        "'\x00'",
        '"\x00\ud800"',
        '"\U0010ffff"',
        "${X}",
        "${X:-${Y}}",
        ".nan",
        "-.inf",
        "1e400",
        "0o8",
        "~",
    ]
)
_LINES = st.tuples(st.sampled_from(["", "  ", "    ", "- ", "  - "]), st.text(max_size=8), _RAW | _FRAGMENTS).map(
    lambda parts: f"{parts[0]}{parts[1]}: {parts[2]}\n"
)

yaml_ish = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(_FRAGMENTS, st.text(max_size=6)), max_size=50).map("".join),
    st.lists(_LINES, min_size=1, max_size=10).map("".join),
    st.tuples(st.integers(0, len(EXAMPLE.read_text())), _LINES).map(
        lambda cut: EXAMPLE.read_text()[: cut[0]] + cut[1] + EXAMPLE.read_text()[cut[0] :]
    ),
)

environments = st.dictionaries(st.sampled_from(["X", "HOME", "YARD_CAMERA", "NOPE"]), st.text(max_size=20), max_size=3)


def _check(text: str, environ: dict[str, str]) -> None:
    try:
        parse_config(text, "fuzz.yaml", environ)
    except VigilError:
        pass  # anything else (ValueError, RecursionError, MemoryError, ...) fails the test


def _dump(doc: object, style: str, raw: str = "") -> str:
    text = ""
    if style == "yaml":
        try:
            text = yaml.safe_dump(doc, allow_unicode=True)
        except RecursionError:  # the dumper's own limit on deep nesting; JSON is YAML too
            pass
    text = text or json.dumps(doc)
    return text.replace('"RAW"', raw).replace("RAW", raw) if raw else text


@FUZZ
@given(text=yaml_ish, environ=environments)
def test_random_yaml_ish_text_is_loaded_or_refused_with_a_config_error(text, environ):
    _check(text, environ)


@FUZZ
@given(doc=mutated(BASE, raw="RAW"), style=st.sampled_from(["yaml", "json"]), raw=_RAW, environ=environments)
def test_mutations_of_the_example_are_loaded_or_refused_with_a_config_error(doc, style, raw, environ):
    _check(_dump(doc, style, raw), environ)


@FUZZ
@given(section=st.sampled_from(sorted(BASE)), value=json_values)
def test_any_value_in_any_section_is_loaded_or_refused_with_a_config_error(section, value):
    _check(_dump({**BASE, section: value}, "yaml"), {})


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(
    prefix=st.binary(max_size=40),
    cut=st.integers(0, len(EXAMPLE.read_bytes())),
    noise=st.binary(max_size=20),
)
def test_random_bytes_in_the_file_are_loaded_or_refused_with_a_config_error(scratch, prefix, cut, noise):
    original = EXAMPLE.read_bytes()
    path = scratch / "vigil.yaml"
    path.write_bytes(prefix + original[:cut] + noise + original[cut:])
    try:
        load_config(path, environ={})  # also reads the files it names (none exist here)
    except VigilError:
        pass
