"""Files a configuration refers to: read when it is loaded, one rule per kind of file, every
problem with its key and line, and never a secret in a message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from vigil.catalog import CATALOG
from vigil.config import SourceConfig
from vigil.config.api import ApiConfig
from vigil.config.daemon import DaemonConfig
from vigil.config.files import READERS, WRITTEN_FILES, read_password_file, read_secret, read_token_file
from vigil.config.loader import load_config, parse_config
from vigil.errors import ConfigError

GOOD_TOKEN = "0123456789abcdef0123"
SHORT = "Zq7wXk"  # a secret that must never be echoed

BASE = """\
model:
  path: m.onnx
sources:
  - name: a
    url: a.mp4
jsonl:
  path: r.jsonl
"""


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"\n", "is empty; write a token of at least 16"),
        (b"   \t\n\n", "is empty"),
        (b"x", "the token has 1 character"),
        (SHORT.encode() + b"\n", "the token has 6 character"),
        (b"0123456789abcdef 0123\n", "space, control or non-ASCII"),
        (b"0123456789abcdef\xff\xfe\n", "space, control or non-ASCII"),
        ("0123456789abcdéf".encode(), "space, control or non-ASCII"),
        (b"0123456789abcdef\x07", "space, control or non-ASCII"),
    ],
)
def test_a_token_file_must_hold_a_usable_token(tmp_path, content, expected):
    path = write(tmp_path / "token", content)
    with pytest.raises(ConfigError, match=expected) as info:
        read_token_file(path)
    assert SHORT not in str(info.value) and str(path) in str(info.value)


def test_a_good_token_file_is_read_stripped(tmp_path):
    assert read_token_file(write(tmp_path / "token", f"  {GOOD_TOKEN}\n".encode())) == GOOD_TOKEN


@pytest.mark.parametrize(
    "token, expected",
    [
        (SHORT, "the token has 6 character.*use at least 16"),
        (" " * 20, "the token is empty"),
        (f"  {SHORT}        ", "the token has 6 character"),
        ("0123456789abcdef\u00e9", "non-ASCII"),
        ("0123456789 abcdef", "space"),
    ],
)
def test_an_inline_token_follows_the_same_rules(token, expected):
    with pytest.raises(ConfigError, match=expected) as info:
        parse_config(BASE + f"api:\n  token: {token!r}\n", "t.yaml", {})
    assert "line 9: api.token" in str(info.value) and SHORT not in str(info.value)


def test_a_token_from_the_environment_follows_the_same_rules():
    text = BASE + "api:\n  host: 0.0.0.0\n  token: ${API_TOKEN}\n"
    with pytest.raises(ConfigError, match=r"line 10: api.token: .*the token has 6 character") as info:
        parse_config(text, "t.yaml", {"API_TOKEN": SHORT})
    assert SHORT not in str(info.value)
    with pytest.raises(ConfigError, match="the token is empty"):
        parse_config(text, "t.yaml", {"API_TOKEN": "\n"})
    assert parse_config(text, "t.yaml", {"API_TOKEN": f"{GOOD_TOKEN}\n"}).api.token == GOOD_TOKEN


def test_loading_refuses_an_empty_token_file_naming_the_key_and_line(tmp_path):
    token = write(tmp_path / "token", b"\n")
    config = write(tmp_path / "vigil.yaml", f"{BASE}api:\n  host: 0.0.0.0\n  token_file: {token}\n".encode())
    with pytest.raises(ConfigError, match=rf"line 10: api.token_file: {token}: is empty"):
        load_config(config, environ={})
    token.write_text(GOOD_TOKEN + "\n")
    assert load_config(config, environ={}).api.read_token() == GOOD_TOKEN


def test_read_token_refuses_a_file_emptied_after_loading(tmp_path):
    """The daemon reads the token at start: an empty file must not mean "no authentication"."""
    token = write(tmp_path / "token", GOOD_TOKEN.encode())
    api = ApiConfig(host="0.0.0.0", token_file=str(token))
    token.write_bytes(b"\n")
    with pytest.raises(ConfigError, match="api.token_file: .*is empty"):
        api.read_token()
    token.unlink()
    with pytest.raises(ConfigError, match="api.token_file: .*no such file"):
        api.read_token()


def test_non_files_are_refused_without_blocking_or_reading_forever(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cases = {fifo: "is a named pipe", Path("/dev/zero"): "is a character device", tmp_path: "is a directory"}
    for path, expected in cases.items():
        with pytest.raises(ConfigError, match=expected):
            read_secret(path)
    with pytest.raises(ConfigError, match="too large for a secret file"):
        read_secret(write(tmp_path / "big", b"x" * 100_000))
    with pytest.raises(ConfigError, match="no such file"):
        read_secret(tmp_path / "absent")


def test_a_password_file_must_be_utf8_text(tmp_path):
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        read_password_file(write(tmp_path / "pw", b"\xff\xfe"))
    assert read_password_file(write(tmp_path / "pw", "pässword\n".encode())) == "pässword"


def test_every_problem_is_reported_at_once_each_with_its_key_and_line(tmp_path):
    text = BASE.replace("    url: a.mp4\n", f"    url: rtsp://viewer@10.0.0.5/s1\n    password_file: {tmp_path / 'pw'}\n")
    text += f"webhook:\n  url: https://x/y\n  spool_dir: s\n  secret_file: {write(tmp_path / 'secret', b' ')}\n"
    text += f"api:\n  token_file: {write(tmp_path / 'token', SHORT.encode())}\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path / "vigil.yaml", text.encode()), environ={})
    message = str(info.value)
    assert "line 6: sources[0].password_file" in message and "no such file" in message
    assert "line 12: webhook.secret_file" in message and "is empty" in message
    assert "line 14: api.token_file" in message and "the token has 6 character" in message
    assert SHORT not in message


def test_a_disabled_api_does_not_need_its_token_file(tmp_path):
    config = write(tmp_path / "vigil.yaml", f"{BASE}api:\n  enabled: false\n  token_file: {tmp_path / 'none'}\n".encode())
    assert load_config(config, environ={}).api.token_file is not None


def test_every_file_key_of_the_configuration_has_a_reading_rule():
    """A new `*_file` key must say how it is checked at load (READERS) or that vigil writes it."""

    def file_keys(model: type[BaseModel]) -> set[str]:
        keys = set()
        for name, field in model.model_fields.items():
            if name.endswith("_file"):
                keys.add(name)
            for arg in getattr(field.annotation, "__args__", ()) + (field.annotation,):
                inner = getattr(arg, "__args__", (arg,))
                for candidate in inner:
                    if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                        keys |= file_keys(candidate)
        return keys

    keys = file_keys(DaemonConfig)  # the sections that are not kinds
    assert "token_file" in keys and keys <= set(READERS) | WRITTEN_FILES
    declared = set()
    for kind in CATALOG.all_kinds():  # each kind declares its secret-file keys in the catalog
        secrets = {secret.key for secret in kind.secret_files}
        assert file_keys(kind.load_config()) <= secrets | WRITTEN_FILES, kind.name
        declared |= secrets
    assert {"password_file", "secret_file", "ca_file", "credentials_file", "token_file"} <= declared


def test_a_refused_value_is_never_repeated_by_a_validation_error():
    with pytest.raises(ValidationError) as info:
        ApiConfig(token=SHORT)
    assert "the token has 6 character" in str(info.value) and SHORT not in str(info.value)
    with pytest.raises(ValidationError) as info:
        SourceConfig(name="cam", url=f"rtsp://viewer:{SHORT}@/stream")
    assert "has no host" in str(info.value) and SHORT not in str(info.value)
