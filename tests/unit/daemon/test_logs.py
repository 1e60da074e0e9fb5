"""configure_logging's formats, journald detection and the RedactSecrets filter."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.daemon.logs import configure_logging
from vigil.errors import ConfigError
from vigil.redact import RedactSecrets

log = logging.getLogger("vigil.test.logs")


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_root_logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """configure_logging changes the process-wide root logger; put it back after each test."""
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


@pytest.fixture
def secret() -> Iterator[str]:
    value = "s3cr3t-from-a-file"
    RedactSecrets.add(value)
    yield value
    RedactSecrets.discard(value)


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_time_level_logger_message_and_extras() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)  # auto: not a terminal -> JSON
    log.info("source %s: %d frames", "cam1", 42, extra={"source": "cam1", "fps": 12.5, "obj": object()})
    log.debug("not shown at INFO")
    [entry] = json_lines(stream)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "vigil.test.logs"
    assert entry["message"] == "source cam1: 42 frames"
    assert entry["source"] == "cam1" and entry["fps"] == 12.5
    assert "obj" not in entry  # not JSON-serialisable: left out rather than breaking the line
    assert isinstance(entry["time"], str) and entry["time"].endswith("+00:00")


def test_json_line_includes_the_exception_text() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        raise RuntimeError("decoder exploded")
    except RuntimeError:
        log.exception("batch failed")
    [entry] = json_lines(stream)
    assert entry["level"] == "ERROR"
    assert isinstance(entry["exc_info"], str)
    assert "RuntimeError: decoder exploded" in entry["exc_info"] and "Traceback" in entry["exc_info"]


def test_text_on_a_terminal() -> None:
    stream = TtyStream()
    configure_logging("debug", stream=stream)
    log.debug("hello %s", "world")
    line = stream.getvalue().strip()
    assert line.endswith("DEBUG vigil.test.logs: hello world")
    assert line[:4].isdigit()  # starts with the timestamp
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_text_under_journald_has_priority_prefixes_and_no_timestamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "journal", "w+") as stream:
        stat = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{stat.st_dev}:{stat.st_ino}")
        configure_logging("DEBUG", stream=stream)
        log.warning("camera lost")
        try:
            raise ValueError("bad frame")
        except ValueError:
            log.error("decode failed", exc_info=True)
        log.debug("tick")
        stream.seek(0)
        lines = stream.read().splitlines()
    assert lines[0] == "<4>WARNING vigil.test.logs: camera lost"
    assert lines[1] == "<3>ERROR vigil.test.logs: decode failed"
    assert all(line.startswith("<3>") for line in lines[2:-1])  # the traceback keeps the error level
    assert lines[-2] == "<3>ValueError: bad frame"
    assert lines[-1] == "<7>DEBUG vigil.test.logs: tick"


def test_a_journal_stream_of_another_file_is_not_journald(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = os.stat(tmp_path)
    monkeypatch.setenv("JOURNAL_STREAM", f"{other.st_dev}:{other.st_ino}")
    with open(tmp_path / "redirected.log", "w+") as stream:
        configure_logging("INFO", stream=stream)
        log.info("to a file")
        stream.seek(0)
        assert json.loads(stream.read())["message"] == "to a file"


def test_configure_logging_twice_keeps_one_handler_and_other_handlers_alone() -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", stream=first)
    handler = configure_logging("WARNING", stream=second)
    log.warning("once")
    assert first.getvalue() == ""
    assert len(json_lines(second)) == 1
    assert handler in root.handlers and foreign in root.handlers
    assert sum(h.get_name() == handler.get_name() for h in root.handlers) == 1
    assert root.level == logging.WARNING
    root.removeHandler(foreign)


@pytest.mark.parametrize(("level", "fmt"), [("LOUD", "auto"), ("INFO", "xml")])
def test_unknown_level_or_format_is_a_config_error(level: str, fmt: str) -> None:
    with pytest.raises(ConfigError):
        configure_logging(level, fmt, io.StringIO())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("template", "args", "leaked", "kept"),
    [
        ("opening %s", ("rtsp://admin:hunter22@10.0.0.5/stream",), "hunter22", "rtsp://admin:***@10.0.0.5"),
        ("opening rtsp://admin:hunter22@10.0.0.5/stream", (), "hunter22", "admin:***@"),
        ("request headers: %s", ({"Authorization": "Bearer eyJhbGciOi.abc"},), "eyJhbGciOi", "Bearer ***"),
        ("Authorization: Bearer eyJhbGciOi.abc sent", (), "eyJhbGciOi", "Authorization: Bearer *** sent"),
        ("GET /hook?token=%s&x=1", ("tok-123456",), "tok-123456", "token=***&x=1"),
        ("login password=%s ok", ("pa55word",), "pa55word", "password=*** ok"),
        ("webhook_secret: %s", ("abcdef",), "abcdef", "webhook_secret: ***"),
        ('{"api_key": "%s"}', ("k-9876",), "k-9876", '"api_key": "***"'),
    ],
)
def test_redaction_of_messages_and_arguments(template: str, args: tuple[object, ...], leaked: str, kept: str) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    log.info(template, *args)
    message = str(json_lines(stream)[0]["message"])
    assert leaked not in message
    assert kept in message


def test_a_registered_secret_is_masked_in_message_args_extras_and_exception(secret: str) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    log.info("signing with " + secret)
    log.info("signing with %s", secret, extra={"key": secret})
    try:
        raise PermissionError(f"secret {secret} refused")
    except PermissionError:
        log.exception("webhook failed")
    output = stream.getvalue()
    assert secret not in output
    first, second, third = json_lines(stream)
    assert first["message"] == "signing with ***"
    assert second["key"] == "***"
    assert "PermissionError: secret *** refused" in str(third["exc_info"])


def test_exception_text_is_masked_in_text_mode_too() -> None:
    stream = TtyStream()
    configure_logging("INFO", "text", stream)
    try:
        raise ConnectionError("cannot reach rtsp://cam:pw1234@camera.local/live")
    except ConnectionError:
        log.exception("source cam failed")
    assert "pw1234" not in stream.getvalue()
    assert "rtsp://cam:***@camera.local/live" in stream.getvalue()


def test_short_secrets_are_not_registered() -> None:
    RedactSecrets.add("ab")
    assert RedactSecrets.redact("abc tab") == "abc tab"


def test_broken_formatting_still_hides_secrets_from_the_error_report(secret: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items " + secret, ("many", secret), None)
    assert RedactSecrets().filter(record)
    assert secret not in str(record.msg) and secret not in record.args  # type: ignore[operator]
