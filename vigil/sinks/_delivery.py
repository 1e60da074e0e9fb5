"""How durable delivery retries (`vigil.sinks.durable.DurableSender`): the webhook's options, the
answer to one attempt (`Reply`), the wait before the next attempt (probing the receiver while
waiting), how long delivery has been failing (for `health()`), and the dead-letter file."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from vigil.errors import ConfigError, SinkError
from vigil.sinks._http import Backoff, retry_after_s
from vigil.sinks.files import open_output
from vigil.sinks.spool import SpoolOptions, SpoolRecord

__all__ = ["Reply", "Retrier", "RetryTimings", "WebhookOptions", "probe_says_up", "write_dead_letters"]

log = logging.getLogger(__name__)

_RETRYABLE = frozenset({408, 429})
# What a gateway answers for a receiver behind it that is down or not answering.
_GATEWAY_DOWN = frozenset({502, 503, 504})


@dataclass(frozen=True)
class WebhookOptions:
    """How the webhook sink sends.

    `secret` signs every request: with `signing` `vigil`, `X-Vigil-Signature` over
    `X-Vigil-Timestamp`; with `standard`, Standard Webhooks' `webhook-signature` (then `secret`
    is the key decoded from a `whsec_` secret). `headers` are sent as they are (for
    instance `Authorization`); neither is ever logged. `batch_max`: most results a request;
    `batch_linger_ms`: how long a short batch waits for more (0: send at once; batches still
    form while a request is in flight); `request_timeout_s`: a request unanswered by then is
    retried; `connect_timeout_s`: the longest wait for a connection (and for a probe);
    `max_retry_after_s`: the longest `Retry-After` obeyed; a retry wait longer than
    `probe_after_s` ends early when a HEAD probe, sent every `probe_interval_s`, finds the
    receiver answering; `unhealthy_after_s`: how long delivery may fail before `health()` says
    so; `flush_timeout_s`: how long `flush()` waits by default; `close_grace_s`: how long
    `close()` lets delivery go on.
    """

    secret: bytes | None = field(default=None, repr=False)
    signing: Literal["vigil", "standard"] = "vigil"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    batch_max: int = 50
    batch_linger_ms: float = 0.0
    request_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    backoff: Backoff = Backoff()
    max_retry_after_s: float = 300.0
    probe_after_s: float = 2.0
    probe_interval_s: float = 1.0
    unhealthy_after_s: float = 30.0
    flush_timeout_s: float = 10.0
    close_grace_s: float = 2.0
    spool: SpoolOptions = field(default_factory=SpoolOptions)

    def __post_init__(self) -> None:
        if self.batch_max < 1:
            raise ConfigError(f"webhook batch_max must be at least 1, got {self.batch_max}")
        positive = (
            "request_timeout_s",
            "connect_timeout_s",
            "flush_timeout_s",
            "max_retry_after_s",
            "probe_interval_s",
            "unhealthy_after_s",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"webhook {name} must be positive, got {getattr(self, name)}")
        if self.batch_linger_ms < 0 or self.close_grace_s < 0 or self.probe_after_s < 0:
            raise ConfigError("webhook batch_linger_ms, close_grace_s and probe_after_s must not be negative")
        if self.secret is not None and not self.secret:
            raise ConfigError("webhook secret is empty; give a secret or none")
        if self.signing == "standard" and self.secret is None:
            raise ConfigError("webhook signing: standard needs a secret (secret_file holding whsec_<base64>)")


@dataclass(frozen=True)
class Reply:
    """The receiver's answer to one attempt."""

    status: int | None  # None: no answer (connection refused or reset, timeout)
    detail: str
    retry_after: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """No answer, 5xx, 408 or 429: the same request is sent again. Anything else that is
        not 2xx refuses it for good."""
        return self.status is None or self.status >= 500 or self.status in _RETRYABLE


def probe_says_up(status: int) -> bool:
    """Whether a probe (a HEAD request) answered with `status` means the receiver is up again.
    Any answer but a gateway's 502, 503 or 504 does: a receiver that does not implement HEAD
    answers 501 (Python's http.server) or 405 (most frameworks), one without that route 404,
    one that is busy 500 or 429; each came from the receiver itself, so the request goes out."""
    return status not in _GATEWAY_DOWN


@dataclass(frozen=True)
class RetryTimings:
    """`backoff` between attempts; `max_retry_after_s`: the longest `Retry-After` obeyed; a
    wait longer than `probe_after_s` is cut short by a probe, sent every `probe_interval_s`,
    that finds the receiver answering."""

    backoff: Backoff = Backoff()
    max_retry_after_s: float = 300.0
    probe_after_s: float = 2.0
    probe_interval_s: float = 1.0


class Retrier:
    """The waits between the attempts of a webhook sink, and since when delivery fails.

    The backoff grows with each failed attempt and starts over when the receiver answers (any
    HTTP status) after it did not answer at all, since what it backed off from is over. A
    `Retry-After` is obeyed as given. While a longer wait runs, `probe()` (a request that costs
    the receiver nothing) is sent every `probe_interval_s`; once it says the receiver answers, the
    wait ends and the request goes out at once, so delivery resumes within about a second of
    the receiver coming back however long it was away. A probe that said yes followed by a
    refusal (5xx, 408, 429) means probes do not tell this receiver's state (a HEAD answered while
    POSTs fail): until the next delivery, waits after such answers run out in full.
    """

    def __init__(self, timings: RetryTimings, probe: Callable[[], Awaitable[bool]]) -> None:
        self.timings = timings
        self.attempt = 0  # failed attempts of the current request, for the backoff
        self.failing_since: float | None = None  # monotonic time of the first failure in a row
        self.last_failure: Reply | None = None
        self._probe = probe
        self._answered: bool | None = None
        self._probed = False
        self._probes_mislead = False

    def record(self, reply: Reply) -> None:
        """Account for the outcome of one attempt."""
        answered = reply.status is not None
        if not reply.retryable:  # delivered, or refused for good: either way the receiver works
            self.attempt = 0
            self.failing_since = self.last_failure = None
            if reply.delivered:
                self._probes_mislead = False
        else:
            if answered and self._answered is False:
                self.attempt = 0
            if answered and self._probed:
                self._probes_mislead = True
            self.attempt += 1
            self.last_failure = reply
            if self.failing_since is None:
                self.failing_since = time.monotonic()
        self._answered = answered
        self._probed = False

    def delay(self, reply: Reply) -> float:
        """The wait before the next attempt after the failed `reply`."""
        asked = retry_after_s(reply.retry_after, time.time())
        if asked is not None:
            return min(asked, self.timings.max_retry_after_s)
        return self.timings.backoff.delay(self.attempt)

    async def wait(self, delay: float, reply: Reply) -> None:
        """Wait `delay` seconds, probing the receiver when the wait is long enough for it."""
        probing = (
            delay > self.timings.probe_after_s
            and retry_after_s(reply.retry_after, time.time()) is None
            and not (reply.status is not None and self._probes_mislead)
        )
        if not probing:
            await asyncio.sleep(delay)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        interval = self.timings.probe_interval_s
        while deadline - loop.time() > interval:
            await asyncio.sleep(interval)
            if await self._probe():
                log.debug("probe: the receiver answers again; sending now instead of in %.1fs", deadline - loop.time())
                self._probed = True
                return
        await asyncio.sleep(max(0.0, deadline - loop.time()))

    def failing_for(self) -> float | None:
        """Seconds since delivery started failing, None while it works."""
        return None if self.failing_since is None else time.monotonic() - self.failing_since


def write_dead_letters(path: Path, sink_name: str, records: list[SpoolRecord], reply: Reply) -> None:
    """Append `records`, refused for good by `reply`, to the dead-letter file (one JSON line each)."""
    when = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    lines = (
        json.dumps(
            {"dead_lettered_at": when, "status": reply.status, "reason": reply.detail, "result": json.loads(r.payload)},
            separators=(",", ":"),
        )
        + "\n"
        for r in records
    )
    try:
        with open(open_output(path, f"sink '{sink_name}'"), "a", encoding="utf-8") as f:  # 0640, no link
            f.writelines(lines)
    except OSError as exc:
        raise SinkError(
            f"sink '{sink_name}': cannot write dead letters to {path} ({exc.strerror}); "
            "check that the spool directory is writable"
        ) from exc
