"""Source URLs, known without connecting: the kind a URL implies (`kind_of_url`, from the
catalog's source kinds) and what is wrong with it (`url_problem`). Below `sources.py` and
`inputs.py`, which both check URLs."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from vigil.catalog import CATALOG

__all__ = ["kind_of_url", "url_problem"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_RTSP = ("rtsp", "rtsps")


def kind_of_url(url: object) -> str:
    """The kind a URL implies: the first kind one of whose `url_prefixes` it starts with
    (case-insensitive: rtsp://, rtsps:// -> rtsp; v4l2: -> webcam), else the first kind
    declared without prefixes (file)."""
    kinds = CATALOG.sources.kinds()
    if isinstance(url, str):
        for kind in kinds:
            if url.lower().startswith(tuple(prefix.lower() for prefix in kind.url_prefixes)):
                return kind.name
    return next((kind.name for kind in kinds if not kind.url_prefixes), "file")


def url_problem(url: str) -> str | None:
    """What is wrong with a source URL, or None; known without connecting. Cameras are retried
    forever, so a URL that can never work must be refused here rather than retried. A path or
    `v4l2:DEVICE` (no `://`), or a URL a plugin's source kind claims, is left to the source."""
    scheme = _SCHEME.match(url)
    if not scheme:
        return None
    if scheme.group(1) == "file":
        return None
    if scheme.group(1) not in _RTSP and CATALOG.sources.get(kind_of_url(url)).origin == "vigil":  # else a plugin's
        return f"'{scheme.group(1)}://' sources are not supported; give a video file, an rtsp:// URL or v4l2:/dev/videoN"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return (
            "is not a valid rtsp:// URL (an unclosed '[' or a port that is not a number 1-65535); a password "
            "holding '/', '?', '#' or '@' must be percent-encoded, or kept in password_file"
        )
    host = parts.hostname or ""
    if not host:
        return "the rtsp:// URL has no host; write rtsp://[USER@]HOST[:PORT]/PATH"
    if port == 0:
        return "the rtsp:// URL has port 0; give the camera's port (554 by default) or none"
    bracketed = "[" in parts.netloc.rpartition("@")[2]
    if bracketed:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "the rtsp:// URL's host in [brackets] is not an IPv6 address"
    elif not _HOST_NAME.match(host):
        return "the rtsp:// URL's host is not a host name or IP address (letters, digits, '.', '-', '_')"
    return None
