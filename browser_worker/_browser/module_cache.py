"""The Hypha server's RPC module, fetched once and handed to every warm page from memory.

Every pooled context is fresh (no HTTP cache survives between sessions), so each warm page used
to download ``hypha-rpc-websocket.mjs`` from the server, which read and gzipped it again: a few
percent of the server's CPU per start, and the server is what limits the start rate (issue 13).
The first warm page fetches it through the browser as before; later ones get the same bytes.
An entry is fetched again after ``ttl`` seconds, so a server upgraded in place is picked up.
Only a 200 answer of at most ``max_bytes`` is kept; anything else passes through untouched.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

MAX_BYTES = 8 * 2**20


@dataclass(frozen=True)
class _Entry:
    fetched_at: float
    content_type: str
    body: bytes


class ModuleCache:
    """Answers routed requests for a few fixed URLs of the trusted server from memory."""

    def __init__(self, ttl: float = 300.0, max_bytes: int = MAX_BYTES) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0
        self.hits = 0

    def _fresh(self, url: str) -> _Entry | None:
        entry = self._entries.get(url)
        if entry is not None and time.monotonic() - entry.fetched_at < self.ttl:
            return entry
        return None

    async def serve(self, route: Any) -> None:
        """A Playwright route handler: fulfil from memory, fetching the URL first if needed."""
        url = route.request.url
        entry = self._fresh(url)
        if entry is None:
            async with self._locks.setdefault(url, asyncio.Lock()):
                entry = self._fresh(url)
                if entry is None:
                    self.fetches += 1
                    response = await route.fetch()
                    body = await response.body()
                    if response.status != 200 or len(body) > self.max_bytes:
                        await route.fulfill(response=response, body=body)
                        return
                    content_type = response.headers.get("content-type", "text/javascript")
                    entry = _Entry(time.monotonic(), content_type, body)
                    self._entries[url] = entry
                    await route.fulfill(status=200, content_type=content_type, body=body)
                    return
        self.hits += 1
        await route.fulfill(status=200, content_type=entry.content_type, body=entry.body)
