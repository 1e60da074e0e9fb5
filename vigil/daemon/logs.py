"""Where log lines go and what they look like: one handler on the root logger, chosen by where
stderr leads, with every credential masked before anything is written (`vigil.redact.RedactSecrets`).

- a terminal: readable text with a timestamp;
- journald (`$JOURNAL_STREAM` names this very stream): text without a timestamp (journald has
  one), each line prefixed with its syslog priority `<N>` so `journalctl -p warning` works;
- anything else (a file, a pipe, a container runtime): one JSON object per line.

Example::

    configure_logging("INFO")                  # fmt="auto"
    vigil.redact.RedactSecrets.add(webhook_secret)   # never printed from now on
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone
from typing import Any, Literal, TextIO

from vigil.errors import ConfigError
from vigil.redact import RedactSecrets, log_record_extras

__all__ = ["JsonFormatter", "configure_logging"]

LogFormat = Literal["auto", "text", "json"]

# Marks the handler configure_logging installed, so that a second call replaces it.
_HANDLER_NAME = "vigil"
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time` (ISO 8601, UTC), `level`, `logger`, `message`, `exc_info`
    and `stack_info` when present, and every JSON-serialisable `extra=` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {k: v for k, v in log_record_extras(record).items() if _serialisable(v)}
        entry.update(
            time=datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            level=record.levelname,
            logger=record.name,
            message=record.getMessage(),
        )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


class _JournalFormatter(logging.Formatter):
    """Prefixes every line with `<N>`; journald turns each line into an entry of priority N, so a
    traceback keeps the level of the error it belongs to."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in self._inner.format(record).split("\n"))


def configure_logging(level: str, fmt: LogFormat = "auto", stream: TextIO | None = None) -> logging.Handler:
    """Install vigil's handler on the root logger (replacing one a previous call installed) and
    set the root level. Other handlers and other libraries' loggers are left alone.

    `stream` defaults to `sys.stderr` as it is at call time.
    """
    if level.upper() not in _LEVELS:
        raise ConfigError(f"log level {level!r} is unknown; use one of {', '.join(_LEVELS)}")
    if fmt not in ("auto", "text", "json"):
        raise ConfigError(f"log format {fmt!r} is unknown; use auto, text or json")
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_formatter(fmt, stream))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def _formatter(fmt: LogFormat, stream: TextIO) -> logging.Formatter:
    """auto: text on a terminal, JSON elsewhere. Under journald every line gets its priority
    prefix whatever the format, and text drops its timestamp."""
    journal = _is_journal(stream, os.environ.get("JOURNAL_STREAM"))
    if fmt == "auto":
        fmt = "text" if journal or _isatty(stream) else "json"
    if fmt == "json":
        inner: logging.Formatter = JsonFormatter()
    else:
        inner = logging.Formatter(_JOURNAL_FORMAT if journal else _TEXT_FORMAT)
    return _JournalFormatter(inner) if journal else inner


def _is_journal(stream: TextIO, journal_stream: str | None) -> bool:
    """systemd sets `JOURNAL_STREAM=device:inode` of the journal socket it gave us as stdout or
    stderr; compare it with the stream's own, since a redirection makes the variable stale."""
    if not journal_stream:
        return False
    try:
        device, inode = (int(part) for part in journal_stream.split(":"))
        stat = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (stat.st_dev, stat.st_ino) == (device, inode)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _syslog_priority(levelno: int) -> int:
    """syslog(3) priorities: 2 crit, 3 err, 4 warning, 6 info, 7 debug."""
    for threshold, priority in ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6)):
        if levelno >= threshold:
            return priority
    return 7


def _serialisable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
