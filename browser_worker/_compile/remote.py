"""Fetching remote assets for ``inline_remote`` compiles: concurrently, within the compile's
deadline and budgets, and only where the network policy allows (no internal addresses by
default; see :mod:`.netpolicy`).

The compiler runs in a worker thread (or the CLI), so each batch drives its own event loop.
A batch is every URL one inlining pass met; stylesheets fetched in one batch may name more
URLs, fetched by the next (as many batches as stylesheets nest, within ``max_depth``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Iterable

from browser_worker._compile.budget import Meter
from browser_worker._compile.inline import Fetched
from browser_worker._net import FetchDeadlineError, FetchTooLargeError, NetworkPolicy
from browser_worker._net import display_url

FIELD = "inline_remote"


class RemoteAssets:
    def __init__(self, policy: NetworkPolicy, meter: Meter) -> None:
        self.policy = policy
        self.meter = meter
        self.fetched: Fetched = {}
        self.total_bytes = 0

    def fetch(self, urls: Iterable[str]) -> None:
        """Fetch every URL not fetched yet (all at once, a few at a time); raises on the first
        failure, naming the URL and the rule or budget."""
        todo = sorted(set(urls) - self.fetched.keys())
        if todo:
            asyncio.run(self._batch(todo))

    async def _batch(self, urls: list[str]) -> None:
        budget = self.meter.budget
        if len(self.fetched) + len(urls) > budget.max_files:
            raise budget.error("max_files", f"by {len(self.fetched) + len(urls)} remote assets ({FIELD})")
        remaining = self.meter.deadline - time.monotonic()
        if remaining <= 0:
            raise budget.error("timeout", f"before fetching {display_url(urls[0])} ({FIELD})")
        gate = asyncio.Semaphore(budget.remote_concurrency)
        try:
            async with asyncio.timeout(remaining):
                async with self.policy.guarded_session(timeout=remaining, limit=budget.remote_concurrency) as http:
                    await _all([self._one(url, gate, http) for url in urls])
        except TimeoutError:
            pending = [display_url(u) for u in urls if u not in self.fetched]
            raise budget.error("timeout", f"while fetching {', '.join(pending[:3])} ({FIELD})") from None

    async def _one(self, url: str, gate: asyncio.Semaphore, http: object) -> None:
        budget = self.meter.budget
        async with gate:
            try:
                data, ctype = await self.policy.fetch_bytes(
                    url, FIELD, max_bytes=budget.max_asset_bytes, deadline=self.meter.deadline,
                    session=http,  # type: ignore[arg-type]
                )
            except FetchTooLargeError:
                raise budget.error("max_asset_bytes", f"while fetching {display_url(url)} ({FIELD})") from None
            except FetchDeadlineError:
                raise budget.error("timeout", f"while fetching {display_url(url)} ({FIELD})") from None
        self.total_bytes += len(data)
        if self.total_bytes > budget.max_remote_bytes:
            raise budget.error("max_remote_bytes", f"while fetching {display_url(url)} ({FIELD})")
        self.fetched[url] = (data, ctype)


async def _all(coros: list[Awaitable[None]]) -> None:
    """Run all; on the first error cancel the rest (and wait for them) before raising it."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
