"""Which requests an app's route cache may answer and which responses it may keep.

The manifest's ``cache_routes`` are glob patterns over whole URLs, as Hypha's built-in worker
reads them: ``*`` is any run of characters (``/`` included), ``?`` any one character, anything
else itself. ``enable_cache`` defaults to true; web-python apps without ``cache_routes`` get the
built-in's default routes (the Pyodide CDN and PyPI). Both fields are hostile input: a wrong
type fails the start, and matching never backtracks (URLs over 4096 characters are not cached).

Never cached: anything but GET; requests with an ``Authorization``, ``Cookie`` or ``Range``
header or credentials in the query (so no call to the Hypha server with a token is); responses
other than 200, with ``Set-Cookie``, or ``Cache-Control: no-store``/``private``. Kept headers
exclude cookies, credentials and the transfer framing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlsplit

from browser_worker.errors import WorkerError

#: Hypha's built-in worker caches these for web-python apps that name no ``cache_routes``.
WEB_PYTHON_ROUTES = (
    "https://cdn.jsdelivr.net/pyodide/*",
    "https://pypi.org/*",
    "https://files.pythonhosted.org/*",
    "https://pyodide.org/*",
    "*.whl",
    "*.tar.gz",
)
MAX_PATTERNS = 64
MAX_PATTERN_CHARS = 1024
#: Characters of all patterns together: matching costs at most URL length × this, in C.
MAX_RULE_CHARS = 4096
MAX_URL_CHARS = 4096
MAX_APP_ID_CHARS = 256
#: Request headers that make a response personal (or partial): such requests are not cached.
PERSONAL_REQUEST_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "range"})
#: Query parameters that carry credentials.
SECRET_PARAMS = frozenset({
    "token", "access_token", "id_token", "refresh_token", "auth", "authorization", "api_key", "apikey",
    "key", "secret", "password", "signature", "sig", "x-amz-signature", "x-amz-credential",
    "x-amz-security-token", "x-goog-signature", "x-goog-credential",
})
#: Response headers never stored (framing is redone when served; cookies and auth are personal).
DROPPED_RESPONSE_HEADERS = frozenset({
    "set-cookie", "set-cookie2", "content-length", "content-encoding", "transfer-encoding",
    "connection", "keep-alive", "proxy-authenticate", "proxy-connection", "www-authenticate",
    "authorization", "cookie", "upgrade", "trailer", "te", "age", "date",
})
MAX_HEADERS = 64
MAX_HEADER_CHARS = 8192


class Glob:
    """One ``cache_routes`` pattern, matched without backtracking: the parts between ``*``s
    are fixed-length, so each is placed at its leftmost possible position in turn."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        parts = pattern.split("*")
        self._stars = len(parts) > 1
        self._parts = [re.compile("".join("." if c == "?" else re.escape(c) for c in p), re.DOTALL)
                       for p in parts]
        self._sizes = [len(p) for p in parts]

    def matches(self, url: str) -> bool:
        first, last = self._parts[0], self._parts[-1]
        if not self._stars:
            return first.fullmatch(url) is not None
        if first.match(url) is None:
            return False
        pos = self._sizes[0]
        for part in self._parts[1:-1]:
            found = part.search(url, pos)
            if found is None:
                return False
            pos = found.end()
        start = len(url) - self._sizes[-1]
        return start >= pos and last.fullmatch(url, start) is not None


@dataclass(frozen=True)
class CacheRule:
    """The URLs one app's responses are cached for."""

    patterns: tuple[str, ...]
    #: The app's author listed these routes (``cache_routes``): their responses are kept even when
    #: the origin says ``no-store`` or ``private``, as a service worker's Cache API would keep
    #: them. False for the routes web-python apps get by default.
    explicit: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "_globs", tuple(Glob(p) for p in self.patterns))

    def matches(self, url: str) -> bool:
        return len(url) <= MAX_URL_CHARS and any(g.matches(url) for g in self._globs)  # type: ignore[attr-defined]


def parse_rule(manifest: Mapping[str, Any], app_type: str) -> CacheRule | None:
    """The manifest's cache rule (None: the app caches nothing); WorkerError names a bad field."""
    enabled = manifest.get("enable_cache", True)
    if not isinstance(enabled, bool):
        raise WorkerError(f"manifest.enable_cache must be true or false, got {type(enabled).__name__}")
    routes = manifest.get("cache_routes")
    explicit = routes is not None
    if routes is None:
        routes = list(WEB_PYTHON_ROUTES) if app_type == "web-python" else []
    if not isinstance(routes, (list, tuple)):
        raise WorkerError(f"manifest.cache_routes must be a list of URL patterns, got {type(routes).__name__}")
    if len(routes) > MAX_PATTERNS:
        raise WorkerError(f"manifest.cache_routes has {len(routes)} patterns (rule: at most {MAX_PATTERNS})")
    for i, pattern in enumerate(routes):
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_CHARS:
            raise WorkerError(f"manifest.cache_routes[{i}] must be a URL pattern of 1-{MAX_PATTERN_CHARS} characters")
    if sum(len(p) for p in routes) > MAX_RULE_CHARS:
        raise WorkerError(f"manifest.cache_routes: more than {MAX_RULE_CHARS} characters in all")
    if not enabled or not routes:
        return None
    return CacheRule(tuple(dict.fromkeys(routes)), explicit=explicit)


def check_app_id(value: Any) -> str:
    """An app id as the cache methods take it: a short string without control characters."""
    if not isinstance(value, str):
        raise WorkerError(f"app_id must be a string, got {type(value).__name__}")
    if not value or len(value) > MAX_APP_ID_CHARS or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise WorkerError(f"app_id must be 1-{MAX_APP_ID_CHARS} characters without control characters")
    return value


def request_cacheable(method: str, url: str, headers: Mapping[str, str]) -> bool:
    """May a response to this request be served from, or stored in, the cache?"""
    if method.upper() != "GET" or len(url) > MAX_URL_CHARS:
        return False
    if any(name.lower() in PERSONAL_REQUEST_HEADERS for name in headers):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return False
    return not any(name.lower() in SECRET_PARAMS for name, _ in parse_qsl(parts.query, keep_blank_values=True))


def response_storable(status: int, headers: Mapping[str, str], *, explicit: bool = False) -> bool:
    """Is a response (before its body is read) one the cache may keep? What is personal by
    construction never is (a cookie set, a partial or failed answer, ``Vary: *``); the origin's
    ``no-store``/``private`` is obeyed unless the app listed the route itself (``explicit``).
    Requests with credentials, cookies or ranges never get here (``request_cacheable``)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if status != 200 or "set-cookie" in lowered or lowered.get("vary", "").strip() == "*":
        return False
    directives = {d.strip().split("=", 1)[0].lower() for d in lowered.get("cache-control", "").split(",")}
    return explicit or not directives & {"no-store", "private"}


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The response headers stored with an entry (and sent again when it is served)."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        name = name.lower()
        if name in DROPPED_RESPONSE_HEADERS or len(name) + len(value) > MAX_HEADER_CHARS:
            continue
        kept[name] = value
        if len(kept) >= MAX_HEADERS:
            break
    return kept


CONTENT_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def install_key(content_hash: object) -> str | None:
    """The pseudo app id install-time entries wait under until the app's first start (None:
    not a ``sha256:<hex>`` hash as compile makes them, so nothing waits for it)."""
    if isinstance(content_hash, str) and CONTENT_HASH.fullmatch(content_hash):
        return f"install:{content_hash}"
    return None
