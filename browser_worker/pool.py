"""A warm pool of isolated browser contexts, with a bounded number of sessions.

Creating a context and page costs tens of milliseconds and importing the Hypha RPC module
another hundred or more, so contexts are made ahead of demand. Each one serves exactly one
session and is then closed, never reused: no cookie, storage or cache can leak between apps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Page

from .browser_host import BrowserHost
from .errors import CapacityError
from .templates import render_shell

log = logging.getLogger(__name__)

SHELL_PATH = "/__browser_worker__/shell.html"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(eq=False)
class Lease:
    """One context and its page, held by one session until released."""

    browser: Browser
    context: BrowserContext
    page: Page
    warm_origin: str | None = None  # origin whose RPC module this page already imported

    def is_warm_for(self, url: str | None) -> bool:
        return bool(url and self.warm_origin and origin_of(url) == self.warm_origin)


class ContextPool:
    """Hands out fresh contexts; keeps ``size`` warm ones ready and at most ``max_sessions`` out."""

    def __init__(
        self,
        host: BrowserHost,
        *,
        size: int = 2,
        max_sessions: int = 32,
        warm_server_url: str | None = None,
        context_options: dict[str, Any] | None = None,
        allowed_hosts: tuple[str, ...] = (),
    ) -> None:
        self._host = host
        self._size = size
        self._max = max_sessions
        self._warm_server_url = warm_server_url
        self._context_options = {"accept_downloads": False, **(context_options or {})}
        self._allowed_hosts = allowed_hosts
        self._ready: list[Lease] = []
        self._slots = asyncio.Semaphore(max_sessions)
        self._in_use = 0
        self._waiting = 0
        self._wanted = asyncio.Event()
        self._refiller: asyncio.Task[None] | None = None
        self._closed = False
        host.subscribe(on_lost=self._drop_browser, on_retired=self._drop_browser)

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def capacity(self) -> int:
        return self._max

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def idle(self) -> int:
        return len(self._ready)

    async def start(self) -> None:
        """Fill the pool once (so the first start is warm), then keep it filled."""
        await asyncio.gather(*(self._add_one() for _ in range(self._size)), return_exceptions=True)
        self._refiller = asyncio.create_task(self._refill_forever(), name="browser-worker-pool-refill")

    async def acquire(self, timeout: float) -> Lease:
        """Take a context for a new session, waiting up to ``timeout`` s for a free slot (and,
        after a crash, for the relaunched browser)."""
        if self._closed:
            raise CapacityError("worker is shutting down")
        deadline = time.monotonic() + timeout
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except asyncio.TimeoutError:
            raise CapacityError(
                f"worker at capacity ({self._in_use}/{self._max} sessions); "
                f"no slot became free within {timeout:g}s"
            ) from None
        finally:
            self._waiting -= 1
        self._in_use += 1
        try:
            lease = self._take_ready()
            if lease is None:
                lease = await self._new_lease(warm=False, timeout=max(0.1, deadline - time.monotonic()))
        except BaseException:
            self._in_use -= 1
            self._slots.release()
            raise
        return lease

    def refill(self) -> None:
        """Top the warm set up again. Callers do this once a start has finished booting, so
        that warming (CPU-heavy) does not compete with the start it would replace."""
        self._wanted.set()

    async def release(self, lease: Lease, timeout: float = 10.0) -> None:
        """Close the session's context (never reused) and free its slot."""
        try:
            await asyncio.wait_for(lease.context.close(), timeout)
        except Exception as exc:  # a dead browser or a hung page must not keep the slot
            log.warning("closing a browser context failed: %s", exc or type(exc).__name__)
        finally:
            self._host.context_closed(lease.browser)
            self._in_use -= 1
            self._slots.release()
            self._wanted.set()

    async def close(self) -> None:
        self._closed = True
        if self._refiller:
            self._refiller.cancel()
            await asyncio.gather(self._refiller, return_exceptions=True)
        ready, self._ready = self._ready, []
        await asyncio.gather(*(self._discard(lease) for lease in ready), return_exceptions=True)

    def _take_ready(self) -> Lease | None:
        while self._ready:
            lease = self._ready.pop(0)
            if self._host.is_current(lease.browser) and not lease.page.is_closed():
                return lease
            asyncio.ensure_future(self._discard(lease))
        return None

    def _drop_browser(self, browser: Browser) -> None:
        """The browser died or is retiring: its warm contexts must not be handed out."""
        stale = [lease for lease in self._ready if lease.browser is browser]
        self._ready = [lease for lease in self._ready if lease.browser is not browser]
        for lease in stale:
            asyncio.ensure_future(self._discard(lease))
        self._wanted.set()

    async def _discard(self, lease: Lease) -> None:
        try:
            await asyncio.wait_for(lease.context.close(), 5)
        except Exception:
            pass
        finally:
            self._host.context_closed(lease.browser)

    async def _refill_forever(self) -> None:
        while not self._closed:
            await self._wanted.wait()
            self._wanted.clear()
            while not self._closed and len(self._ready) < self._size:
                if not await self._add_one():
                    await asyncio.sleep(0.5)  # the browser may be relaunching; do not spin
                    self._wanted.set()
                    break

    async def _add_one(self) -> bool:
        try:
            lease = await self._new_lease(warm=True, timeout=30)
        except Exception as exc:
            log.warning("could not prepare a warm browser context: %s", exc)
            return False
        if self._closed or not self._host.is_current(lease.browser):
            await self._discard(lease)  # the browser died or started draining meanwhile
            return False
        self._ready.append(lease)
        return True

    async def _new_lease(self, warm: bool, timeout: float) -> Lease:
        browser = await self._host.browser(timeout)
        context = await browser.new_context(**self._context_options)
        self._host.context_opened(browser)
        try:
            if self._allowed_hosts:
                await context.route("**/*", self._guard)
            page = await context.new_page()
            lease = Lease(browser, context, page)
            if warm and self._warm_server_url:
                await self._warm(lease, self._warm_server_url)
            return lease
        except BaseException:
            await self._discard(Lease(browser, context, None))  # type: ignore[arg-type]
            raise

    async def _guard(self, route: Any) -> None:
        """Abort requests to hosts outside the allow-list (``--allow-hosts``)."""
        host = (urlsplit(route.request.url).hostname or "").lower()
        if host in self._allowed_hosts:
            await route.fallback()
        else:
            await route.abort("blockedbyclient")

    async def _warm(self, lease: Lease, server_url: str) -> None:
        """Load the shell page at the server's origin and import the RPC module there."""
        origin = origin_of(server_url)
        shell_url = origin + SHELL_PATH
        html = render_shell(server_url)

        async def serve_shell(route: Any) -> None:
            await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

        await lease.page.route(shell_url, serve_shell)
        await lease.page.goto(shell_url, wait_until="domcontentloaded")
        await lease.page.unroute(shell_url, serve_shell)
        result = await lease.page.evaluate("() => window.__bwWarm")
        if result is True:
            lease.warm_origin = origin
        else:
            log.warning("pre-warming at %s failed: %s", origin, result)
