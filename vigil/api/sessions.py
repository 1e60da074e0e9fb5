"""The console's sign-ins: random session ids kept by the server, each ending after a time
without use (`api.session_idle_s`), a time after it began (`api.session_max_age_s`), or when the
browser signs out. At most `api.max_sessions` live at once; a new one beyond that ends the oldest.

The cookie holds only the id (`secrets.token_urlsafe`, 256 bits); the server keeps a hash of it,
so neither a lookup's timing nor a copy of the process's memory gives a usable cookie. Nothing
survives a restart: signing in again is the cost of never writing sessions to disk.

    sessions = Sessions(idle_s=3600, max_age_s=86400, limit=100)
    cookie = sessions.start()
    assert sessions.valid(cookie)
    sessions.end(cookie)
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Sessions"]


@dataclass
class _Session:
    started: float
    used: float


class Sessions:
    """Live console sign-ins, oldest first."""

    def __init__(self, idle_s: float, max_age_s: float, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        if idle_s <= 0 or max_age_s <= 0 or limit < 1:
            raise ValueError(f"Sessions needs idle_s > 0, max_age_s > 0 and limit >= 1 (got {idle_s}, {max_age_s}, {limit})")
        self.idle_s, self.max_age_s, self.limit = idle_s, max_age_s, limit
        self._clock = clock
        self._live: OrderedDict[bytes, _Session] = OrderedDict()  # by hash of the id, in the order they began

    def __len__(self) -> int:
        self._expire()
        return len(self._live)

    def start(self) -> str:
        """A new session's id (the cookie's value)."""
        self._expire()
        while len(self._live) >= self.limit:
            self._live.popitem(last=False)
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        self._live[_key(session_id)] = _Session(now, now)
        return session_id

    def valid(self, session_id: str) -> bool:
        """Whether `session_id` is a live session; using it restarts its idle time."""
        if not session_id or len(session_id) > 100:
            return False
        key = _key(session_id)
        session = self._live.get(key)
        now = self._clock()
        if session is None:
            return False
        if self._ended(session, now):
            del self._live[key]
            return False
        session.used = now
        return True

    def end(self, session_id: str) -> None:
        """Sign out: the id is worthless from now on."""
        self._live.pop(_key(session_id), None)

    def _ended(self, session: _Session, now: float) -> bool:
        return now - session.used >= self.idle_s or now - session.started >= self.max_age_s

    def _expire(self) -> None:
        now = self._clock()
        for key in [key for key, session in self._live.items() if self._ended(session, now)]:
            del self._live[key]


def _key(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "surrogateescape")).digest()
