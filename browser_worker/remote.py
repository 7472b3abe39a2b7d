"""Fetching remote assets for ``inline_remote`` compiles: aiohttp, with a size cap and timeout.

Compiles run in a worker thread (or the CLI), so the fetcher drives its own event loop."""

from __future__ import annotations

import asyncio

import aiohttp

from .errors import WorkerError


class RemoteFetcher:
    def __init__(self, max_bytes: int = 5 * 1024 * 1024, timeout: float = 15.0, total_bytes: int = 50 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.total_bytes = total_bytes
        self.timeout = timeout
        self.fetched = 0
        self._loop = asyncio.new_event_loop()

    def __call__(self, url: str) -> tuple[bytes, str | None]:
        return self._loop.run_until_complete(self._get(url))

    def close(self) -> None:
        self._loop.close()

    async def _get(self, url: str) -> tuple[bytes, str | None]:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as http:
                async with http.get(url) as resp:
                    if resp.status != 200:
                        raise WorkerError(f"inline_remote: {url} answered HTTP {resp.status}")
                    data = bytearray()
                    async for chunk in resp.content.iter_chunked(64 * 1024):
                        data += chunk
                        if len(data) > self.max_bytes:
                            break
                    data = bytes(data)
                    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip() or None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise WorkerError(f"inline_remote: could not fetch {url}: {exc or type(exc).__name__}") from None
        if len(data) > self.max_bytes:
            raise WorkerError(f"inline_remote: {url} is larger than {self.max_bytes} bytes")
        self.fetched += len(data)
        if self.fetched > self.total_bytes:
            raise WorkerError(f"inline_remote: remote assets exceed {self.total_bytes} bytes in all")
        return data, ctype
