"""The one place that hides credentials in what vigil shows: API answers (streams, readiness,
the effective configuration as JSON and YAML), log lines and error messages.

    mask_url("rtsp://admin:p w@cam/s?token=abc")   # 'rtsp://admin:***@cam/s?token=***'
    mask_text("cannot open 'https://KEY@host/h' (refused)")   # "cannot open 'https://***@host/h' (refused)"

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

import re
from urllib.parse import unquote

__all__ = ["MASK", "mask_text", "mask_url", "secret_parameter"]

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
