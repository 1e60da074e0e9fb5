"""The one place that hides credentials in what vigil shows: API answers (streams, readiness,
the effective configuration as JSON and YAML), log lines and error messages.

    mask_url("rtsp://admin:p w@cam/s?token=abc")   # 'rtsp://admin:***@cam/s?token=***'
    mask_text("cannot open 'https://KEY@host/h' (refused)")   # "cannot open 'https://***@host/h' (refused)"
    mask_config({"mqtt": {"password": "pw"}})   # {'mqtt': {'password': '***'}}: a configuration's secrets
    redactor(["pw", "token"])("pw and token")   # '*** and ***': exact strings a sink knows are secret
    handler.addFilter(RedactSecrets())          # every log record through the handler masked
    RedactSecrets.add(secret_read_from_a_file)  # and this string too, from now on

What is masked, wherever a `scheme://` URL appears in the text:
- the password of `user:password@` (the user stays), up to the LAST '@' of the authority, so a
  raw '@' or a space in a password hides its tail too; `:password@` with no user as well;
- a user-only credential (`https://APIKEY@host`): the whole user part;
- the value of every query or fragment parameter whose name says it is a credential (`token`,
  `api_key`, `access_token`, `auth`, `key`, `password`, `sig`, `signature`, `X-Amz-Credential`
  and the like, any case);
and anywhere in the text: `Authorization: Bearer x`, `token=x`, `"password": "x"`, `api_key: x`.

This module imports nothing but the standard library: logging is set up before anything heavy.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import unquote

__all__ = ["MASK", "RedactSecrets", "log_record_extras", "mask_config", "mask_text", "mask_url", "redactor", "secret_parameter"]

MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_QUOTES = "\"'"
# Where the authority of a URL in free text ends: its path, query or fragment, or the line.
_AUTHORITY_END = "/?#\r\n"
# Where a URL in free text ends (after its host): white space, a quote or an angle bracket.
_URL_END = re.compile(r"[\s\"'<>]")
# A parameter name that holds a credential: it ends in one of these (so `api_key`, `X-Amz-Signature`).
_SECRET_NAME = re.compile(
    r"(token|key|secret|passw(or)?d|pass|pwd|sig|signature|auth|authori[sz]ation|credentials?|session(id)?|jwt)$"
)
_PARAMETER = re.compile(r"(^|[&;])([^=&;]*)=([^&;]*)")
# `Authorization: Bearer x`, `Authorization: Basic x`, a bare `Bearer x`.
_AUTHORIZATION = re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token)?\s*|bearer\s+)[^\s\"',;]+")
# `token=x`, `access_token: x`, `"password": "x"`, `webhook_secret=x`, `api_key=x` (the key ends the name).
_KEY_VALUE = re.compile(r"(?i)\b([\w-]*(?:token|password|passwd|secret|api[_-]?key)[\"']?\s*[:=]\s*[\"']?)[^\s&\"',;]+")
# Configuration keys whose values are credentials (`*_file` keys are paths, shown).
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_?key|credentials?|authorization)$", re.IGNORECASE)
# LogRecord's own attributes; whatever else a record carries came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    "name msg args levelname levelno pathname filename module exc_info exc_text stack_info lineno "
    "funcName created msecs relativeCreated thread threadName processName process taskName message "
    "asctime".split()
)


def secret_parameter(name: str) -> bool:
    """Whether a query parameter (or config key) named `name` holds a credential."""
    return bool(_SECRET_NAME.search(unquote(name).strip().lower()))


def mask_url(url: str) -> str:
    """`url` with its credentials masked (see the module). Text holding URLs works too."""
    return mask_text(url)


def mask_text(text: str) -> str:
    """`text` with the credentials of every URL in it, and every `key=secret`, masked."""
    if "://" in text:
        text = _mask_urls(text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + MASK, text)
    return _KEY_VALUE.sub(lambda m: m.group(1) + MASK, text)


def _mask_urls(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _SCHEME.finditer(text):
        if match.start() < pos:  # inside the URL masked last
            continue
        quote = text[match.start() - 1] if match.start() and text[match.start() - 1] in _QUOTES else None
        out.append(text[pos : match.end()])
        pos = _mask_one(text, match.end(), quote, out)
    out.append(text[pos:])
    return "".join(out)


def _mask_one(text: str, start: int, quote: str | None, out: list[str]) -> int:
    """Mask the URL whose authority starts at `start`; append it to `out`, return where it ends."""
    stop = _first_of(text, start, _AUTHORITY_END + (quote or ""))
    at = text.rfind("@", start, stop)
    pos = start
    if at >= 0:  # credentials: everything up to the last '@' before the path, spaces included
        out.append(_mask_userinfo(text[start:at]) + "@")
        pos = at + 1
    end = _URL_END.search(text, pos)
    end_at = end.start() if end else len(text)
    if quote is not None:  # a quoted URL ends at its quote, whatever it holds
        closing = text.find(quote, pos)
        end_at = closing if closing >= 0 else end_at
    following = _SCHEME.search(text, pos, end_at)  # `nats://a@h1,nats://b@h2`: each URL on its own
    end_at = following.start() if following else end_at
    out.append(_mask_parameters(text[pos:end_at]))
    return end_at


def _first_of(text: str, start: int, characters: str) -> int:
    found = [i for i in (text.find(c, start) for c in characters) if i >= 0]
    return min(found) if found else len(text)


def _mask_userinfo(userinfo: str) -> str:
    user, colon, _ = userinfo.partition(":")
    if not colon or any(c.isspace() for c in user):
        return MASK  # a user-only credential (an API key), or no telling where a user would end
    return f"{user}:{MASK}"


def _mask_parameters(rest: str) -> str:
    """The host, path, query and fragment of a URL, with credential parameters masked."""
    head, mark, tail = rest.partition("?")
    if not mark:
        head, mark, tail = rest.partition("#")
        return head + mark + _mask_query(tail) if mark else rest
    query, hash_mark, fragment = tail.partition("#")
    return head + mark + _mask_query(query) + hash_mark + _mask_query(fragment)


def _mask_query(query: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(3) and secret_parameter(m.group(2)):
            return f"{m.group(1)}{m.group(2)}={MASK}"
        return m.group(0)

    return _PARAMETER.sub(one, query)


def mask_config(data: Any, key: str = "") -> Any:
    """`data` (a configuration as JSON-able data) with secrets hidden: the values of keys ending in
    password, secret, token, api_key and the like become "***", at any depth, and every other
    string goes through `mask_text` (the credentials of the URLs in it: cameras, webhooks, MQTT
    and NATS servers). `key`: the key `data` is the value of."""
    if isinstance(data, dict):
        return {k: mask_config(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_config(v, key) for v in data]
    if isinstance(data, str):
        return MASK if _SECRET_KEY.search(key) else mask_text(data)
    return data


def redactor(secrets: list[str]) -> Callable[[str], str]:
    """A function that replaces every secret in a text with `***` (longest first, so a secret
    containing another is hidden whole): what a sink knows to be secret (its password, its
    token, the userinfo of its URL) kept out of the errors it reports."""
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, MASK)
        return text

    return redact


class RedactSecrets(logging.Filter):
    """Masks credentials in every record it sees: the formatted message, string `extra=` fields,
    and the exception and stack text. Attach it to a handler so it covers every logger.

    Besides the patterns (`mask_text`: URL credentials and tokens, authorization headers,
    `token=` and the like), exact strings registered with `RedactSecrets.add` are masked: a
    webhook secret read from a file has no pattern to recognise it by.
    """

    _secrets: ClassVar[frozenset[str]] = frozenset()
    _secrets_pattern: ClassVar[re.Pattern[str] | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def add(cls, secret: str) -> None:
        """Mask `secret` wherever it appears from now on. Strings under 4 characters are ignored:
        masking them would shred every line and they protect nothing."""
        if len(secret) >= 4:
            with cls._lock:
                cls._set_secrets(cls._secrets | {secret})

    @classmethod
    def discard(cls, secret: str) -> None:
        """Stop masking `secret` (after a reload replaced it)."""
        with cls._lock:
            cls._set_secrets(cls._secrets - {secret})

    @classmethod
    def _set_secrets(cls, secrets: frozenset[str]) -> None:
        # Longest first, so a secret containing another is masked whole. Readers take the
        # pattern without the lock: it is replaced whole, never changed in place.
        alternatives = "|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True))
        cls._secrets = secrets
        cls._secrets_pattern = re.compile(alternatives) if secrets else None

    @classmethod
    def redact(cls, text: str) -> str:
        """`text` with every known credential replaced by `***`."""
        pattern = cls._secrets_pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return mask_text(text)  # URLs' credentials, authorization headers, `token=` and the like

    def filter(self, record: logging.LogRecord) -> bool:
        self._redact_message(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in log_record_extras(record).items():
            if isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True

    def _redact_message(self, record: logging.LogRecord) -> None:
        # Formatted first: a secret may sit in an argument, or straddle the template and it.
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken %-format is the handler's to report
            # Leave broken %-formatting to the handler's error report, but without secrets.
            record.msg = self.redact(str(record.msg))
            if isinstance(record.args, tuple):
                record.args = tuple(self.redact(a) if isinstance(a, str) else a for a in record.args)
            return
        record.msg, record.args = self.redact(message), ()


def log_record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log record carries beyond LogRecord's own: those `extra=` gave it."""
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES}
