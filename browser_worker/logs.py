"""A bounded, redacting log buffer per session.

Apps can print without limit; the buffer keeps the newest ``max_entries`` and counts the rest,
so a chatty app can neither exhaust memory nor slow the worker down.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timezone
from typing import Any, Iterable

from .redact import redact

REDACTED = "***"


class LogBuffer:
    """Ring buffer of ``{type, content, time, source}`` entries."""

    def __init__(self, max_entries: int = 10_000, secrets: Iterable[str] = ()) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._secrets = [s for s in secrets if s and len(s) >= 8]
        self.dropped = 0

    def add_secret(self, secret: str | None) -> None:
        """Redact ``secret`` from every later entry (tokens must never reach logs)."""
        if secret and len(secret) >= 8 and secret not in self._secrets:
            self._secrets.append(secret)

    def append(self, type: str, content: str, source: str = "worker") -> None:
        for secret in self._secrets:
            if secret in content:
                content = content.replace(secret, REDACTED)
        content = redact(content)
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(
            {
                "type": type,
                "content": content,
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "source": source,
            }
        )

    def __len__(self) -> int:
        return len(self._items)

    def query(self, type: str | None = None, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """Page through entries, optionally of one type; ``total`` counts before paging."""
        offset = max(0, int(offset or 0))
        items = [dict(i) for i in self._items if type is None or i["type"] == type]
        total = len(items)
        end = None if limit is None else offset + max(0, int(limit))
        return {"items": items[offset:end], "total": total, "offset": offset, "limit": limit}

    def texts(self, type: str | None = None) -> list[str]:
        return [i["content"] for i in self._items if type is None or i["type"] == type]
