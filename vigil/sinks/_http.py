"""HTTP plumbing for the webhook sink: backoff, `Retry-After`, and credentials taken out of the URL
(`vigil.redact.redactor` hides them in what the sink reports)."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

from yarl import URL

from vigil.errors import ConfigError
from vigil.redact import MASK

__all__ = ["Backoff", "display_url", "retry_after_s", "split_credentials"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of
    `min(max_s, initial_s * multiplier ** (n - 1))`, so many senders do not retry in step."""

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_s, self.initial_s * self.multiplier ** max(attempt - 1, 0))
        return random.uniform(base / 2, base)


def retry_after_s(value: str | None, now: float) -> float | None:
    """`Retry-After` in seconds from `now`: delta-seconds or an HTTP-date; None if absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def split_credentials(url: str) -> tuple[URL, dict[str, str], list[str]]:
    """The URL without its userinfo, the userinfo as a basic-auth header, and the strings to redact."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"webhook URL is not a valid URL ({type(exc).__name__})") from exc
    if parsed.user is None and parsed.password is None:
        return parsed, {}, []
    token = base64.b64encode(f"{parsed.user or ''}:{parsed.password or ''}".encode()).decode()
    secrets = [v for v in (parsed.user, parsed.password, parsed.raw_user, parsed.raw_password, token) if v]
    return parsed.with_user(None), {"Authorization": f"Basic {token}"}, secrets


def display_url(url: URL) -> str:
    """Scheme, host, port and path: the query may carry a token, so it is masked."""
    shown = str(url.with_user(None).with_query(None).with_fragment(None))
    return shown + (f"?{MASK}" if url.query_string else "")
