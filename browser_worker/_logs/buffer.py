"""A bounded, redacting log buffer per session, speaking Hypha's log vocabulary.

Items keep the ``type`` values Hypha's callers filter on (``get_logs(type="console")``):

=========  ==========================================================  ================
``type``   what                                                        ``source``
=========  ==========================================================  ================
console    the page's console output, content ``"[<level>] text"``     console
error      uncaught page errors, crashes, failed starts, failed        page / worker /
           requests                                                    network
network    HTTP responses with status ≥ 400 (the request went through) network
info       worker lifecycle and start progress                         worker
warning    worker notices (session TTL, dropped console traffic, …)    worker
action     what a person or agent did (``act``, viewer input): who,    worker
           the verb, the target; typed text as its length only
=========  ==========================================================  ================

Each item also carries ``level`` (log/info/warning/error/debug), ``time`` (ISO 8601, UTC) and
``source``. Apps can print without limit, so the buffer is bounded twice: by entries and by
bytes (each entry's content is capped, and the oldest entries go once the total is exceeded).
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime, timezone
from typing import Any, Iterable

from browser_worker._redact import REDACTED as REDACTED  # re-exported: what a redacted secret reads as
from browser_worker._redact import redact
from browser_worker.config import DEFAULTS
from browser_worker.errors import WorkerError


#: Hypha's ``type`` values (see the table above).
CONSOLE, ERROR, NETWORK, INFO, WARNING = "console", "error", "network", "info", "warning"
#: Ours beside Hypha's: what a person or an agent did in the page.
ACTION = "action"
TYPES = (CONSOLE, ERROR, NETWORK, INFO, WARNING, ACTION)
LEVELS = ("log", "info", "warning", "error", "debug")
SOURCES = ("console", "page", "network", "worker")
#: Console message types (Playwright's names, which Hypha's built-in writes as ``[type] text``)
#: and the level each one is reported at.
CONSOLE_LEVELS = {
    "log": "log", "info": "info", "warning": "warning", "error": "error", "debug": "debug",
    "trace": "debug", "assert": "error", "dir": "log", "dirxml": "log", "table": "log",
    "count": "log", "timeEnd": "log",
}

#: Bytes an entry costs besides its content (the dict, time stamp and type strings).
ENTRY_OVERHEAD = 256
DEFAULT_MAX_BYTES = DEFAULTS.max_log_bytes  # defaults come from the settings only
DEFAULT_MAX_ENTRY_BYTES = DEFAULTS.max_log_entry_bytes


def truncate(content: str, max_bytes: int) -> tuple[str, int, bool]:
    """``content`` cut to at most ``max_bytes`` UTF-8 bytes, marker included; its size; was it cut."""
    if len(content) * 4 <= max_bytes:  # fast path: even 4-byte characters fit
        return content, len(content.encode("utf-8", "replace")), False
    raw = content.encode("utf-8", "replace")
    if len(raw) <= max_bytes:
        return content, len(raw), False
    keep = max(0, max_bytes - 40)  # room for the marker
    kept = raw[:keep].decode("utf-8", "ignore")  # never half a character
    out = f"{kept}… [truncated {len(raw) - len(kept.encode('utf-8'))} bytes]"
    return out, len(out.encode("utf-8")), True


class LogBuffer:
    """Ring buffer of ``{type, content, level, time, source}`` items, bounded in count and bytes."""

    def __init__(
        self,
        max_entries: int = DEFAULTS.max_log_entries,
        secrets: Iterable[str] = (),
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
    ) -> None:
        self._items: deque[dict[str, Any]] = deque()
        self._sizes: deque[int] = deque()
        self._secrets = [s for s in secrets if s and len(s) >= 8]
        self.max_entries = max(1, max_entries)
        self.max_bytes = max(ENTRY_OVERHEAD, max_bytes)
        self.max_entry_bytes = max(64, max_entry_bytes)
        self.bytes = 0  # content bytes plus ENTRY_OVERHEAD per entry held now
        self.dropped = 0  # entries pushed out (by count or by bytes)
        self.truncated = 0  # entries whose content was cut to max_entry_bytes
        self._news: list[asyncio.Future[None]] = []  # readers waiting for the next entry

    def add_secret(self, secret: str | None, min_length: int = 8) -> None:
        """Redact ``secret`` from every later entry (tokens must never reach logs; neither must
        text typed as a secret, down to ``min_length`` characters)."""
        if secret and len(secret) >= min_length and secret not in self._secrets:
            self._secrets.append(secret)

    def append(self, type: str, content: str, *, level: str, source: str) -> None:
        """Add one item; ``type`` is Hypha's vocabulary, ``level``/``source`` ours."""
        content = str(content)
        content = redact(content, self._secrets)  # before truncating: never half a token
        content, size, cut = truncate(content, self.max_entry_bytes)
        self.truncated += cut
        size += ENTRY_OVERHEAD
        self._items.append(
            {
                "type": type,
                "content": content,
                "level": level if level in LEVELS else "log",
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "source": source,
            }
        )
        self._sizes.append(size)
        self.bytes += size
        while len(self._items) > self.max_entries or (self.bytes > self.max_bytes and len(self._items) > 1):
            self._items.popleft()
            self.bytes -= self._sizes.popleft()
            self.dropped += 1
        self.wake()

    # ----- following the buffer (stream_logs) ---------------------------------------------
    # Positions are absolute: entry ``n`` is the n-th ever appended, so a reader keeps its place
    # while old entries are pushed out.

    @property
    def end(self) -> int:
        """The position the next entry will get."""
        return self.dropped + len(self._items)

    def since(self, position: int, limit: int = 100) -> tuple[list[dict[str, Any]], int]:
        """Up to ``limit`` entries from ``position`` on (those pushed out are skipped), and the
        position after them."""
        start = max(0, position - self.dropped)
        items = [dict(i) for i in list(self._items)[start:start + limit]]
        return items, self.dropped + start + len(items)

    async def wait_beyond(self, position: int, timeout: float) -> None:
        """Until an entry at ``position`` or later exists, ``wake`` is called, or ``timeout``."""
        if self.end > position:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._news.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            if waiter in self._news:
                self._news.remove(waiter)

    def wake(self) -> None:
        """Let every reader waiting in ``wait_beyond`` look again (a new entry, a session end)."""
        news, self._news = self._news, []
        for waiter in news:
            if not waiter.done():
                waiter.set_result(None)

    def console(self, kind: str, text: str) -> None:
        """A console line as Hypha's built-in worker reports it, ``[kind] text`` (``kind`` is the
        console message type: log, info, warning, error, debug, trace, …)."""
        kind = "warning" if kind == "warn" else kind if kind in CONSOLE_LEVELS else "log"
        self.append(CONSOLE, f"[{kind}] {text}", level=CONSOLE_LEVELS[kind], source="console")

    def action(self, message: str) -> None:
        """What someone did in the page (``act``, viewer input): who, which verb, which target;
        typed text appears as its length only."""
        self.append(ACTION, message, level="info", source="worker")

    def worker(self, message: str, level: str = "info") -> None:
        """A line from the worker itself (lifecycle, progress, notices)."""
        type = ERROR if level == "error" else WARNING if level == "warning" else INFO
        self.append(type, message, level=level, source="worker")

    def __len__(self) -> int:
        return len(self._items)

    def query(self, type: str | None = None, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """Page through entries, optionally of one type; ``total`` counts before paging."""
        if type is not None and type not in TYPES:
            raise WorkerError(f"get_logs: unknown log type {type[:40]!r} (rule: one of {', '.join(TYPES)}, or none for all)")
        offset = max(0, int(offset or 0))
        items = [dict(i) for i in self._items if type is None or i["type"] == type]
        total = len(items)
        end = None if limit is None else offset + max(0, int(limit))
        return {"items": items[offset:end], "total": total, "offset": offset, "limit": limit}

    def texts(self, type: str | None = None) -> list[str]:
        return [i["content"] for i in self._items if type is None or i["type"] == type]
