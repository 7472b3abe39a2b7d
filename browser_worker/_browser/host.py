"""The Chromium process behind the pool: launched at start, relaunched after a crash, recycled.

Hypha's own worker stops working for good after one Chromium crash. Here a lost browser is
reported to listeners (the pool drops its warm contexts, the worker fails the sessions that
lived in it) and a new one is launched with backoff; starts wait for it instead of failing.
After ``recycle_after`` sessions a fresh browser takes new sessions while the old one drains.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from playwright.async_api import Browser, Playwright

from browser_worker._aio import TaskSet
from browser_worker._browser.chromium import ChromiumInfo, connect_remote, launch_chromium
from browser_worker.errors import ConfigError, WorkerError, first_line

log = logging.getLogger(__name__)

BACKOFF = (0.0, 0.5, 1.0, 2.0, 4.0)

Listener = Callable[[Browser], None]


class BrowserHost:
    def __init__(
        self,
        playwright: Playwright,
        *,
        chromium_path: str | None = None,
        headless: bool = True,
        recycle_after: int = 500,
        browser_endpoint: str | None = None,
        cdp_endpoint: str | None = None,
        extra_args: tuple[str, ...] = (),
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        if browser_endpoint and cdp_endpoint:
            raise ConfigError("give either a browser endpoint or a CDP endpoint, not both")
        self._playwright = playwright
        self._endpoint = browser_endpoint
        self._cdp_endpoint = cdp_endpoint
        self._extra_args = extra_args
        self._chromium_path = chromium_path
        self._headless = headless
        self._recycle_after = recycle_after
        self._sleep = sleep or asyncio.sleep  # the relaunch back-off's (unit tests inject a fake)
        self._current: Browser | None = None
        self._ready = asyncio.Event()
        self._served: dict[Browser, int] = {}  # known browsers → contexts ever created in them
        self._draining: set[Browser] = set()
        self._closing: set[Browser] = set()
        self._on_lost: list[Listener] = []
        self._on_retired: list[Listener] = []
        self._relaunch: asyncio.Task[None] | None = None
        self._failure: str | None = None
        self._closed = False
        self._background = TaskSet("browser host")
        self.info: ChromiumInfo | None = None
        self.restarts = 0
        self.recycles = 0

    # ----- lifetime -------------------------------------------------------------------------

    async def start(self) -> None:
        self._adopt(await self._launch())

    async def close(self) -> None:
        self._closed = True
        if self._relaunch:
            self._relaunch.cancel()
            await asyncio.gather(self._relaunch, return_exceptions=True)
        browsers = set(self._served) | ({self._current} if self._current else set())
        self._current = None
        for browser in browsers:
            self._closing.add(browser)
            await asyncio.gather(browser.close(), return_exceptions=True)
        await self._background.wait()

    def subscribe(self, on_lost: Listener | None = None, on_retired: Listener | None = None) -> None:
        """``on_lost(browser)``: it died. ``on_retired(browser)``: no new contexts from it."""
        if on_lost:
            self._on_lost.append(on_lost)
        if on_retired:
            self._on_retired.append(on_retired)

    def is_current(self, browser: Browser) -> bool:
        """Whether new sessions may still use contexts of ``browser`` (not dead, not draining)."""
        return browser is self._current and browser.is_connected()

    @property
    def alive(self) -> bool:
        return self._current is not None and self._current.is_connected()

    async def browser(self, timeout: float | None = None) -> Browser:
        """The browser new contexts come from; waits while one is being relaunched."""
        if self._closed:
            raise WorkerError("worker is shutting down")
        if not self.alive and (self._relaunch is None or self._relaunch.done()):
            self._schedule_relaunch()
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            reason = f": {self._failure}" if self._failure else ""
            raise WorkerError(f"no browser available (Chromium is being relaunched){reason}") from None
        assert self._current is not None
        return self._current

    # ----- bookkeeping of contexts, for draining --------------------------------------------

    def context_opened(self, browser: Browser) -> None:
        if browser not in self._served:
            return  # already drained and closing
        self._served[browser] += 1
        if (
            browser is self._current
            and self._recycle_after > 0
            and self._served[browser] >= self._recycle_after
        ):
            self._retire(browser)

    def context_closed(self, browser: Browser) -> None:
        self._close_if_drained(browser)

    def browsers(self) -> list[Browser]:
        """Every connected browser: the current one and any still draining."""
        found = [b for b in self._served if b.is_connected()]
        if self._current is not None and self._current not in found and self._current.is_connected():
            found.append(self._current)
        return found

    def _close_if_drained(self, browser: Browser) -> None:
        # Count what Chromium itself reports open: bookkeeping of our own could drift.
        if browser in self._draining and not browser.contexts:
            self._forget(browser)
            self._closing.add(browser)
            self._background.spawn(browser.close())

    # ----- internals ------------------------------------------------------------------------

    @property
    def remote(self) -> bool:
        return bool(self._endpoint or self._cdp_endpoint)

    async def _launch(self) -> Browser:
        if self._endpoint:
            browser = await connect_remote(
                self._playwright, self._endpoint, self._chromium_path, self._headless, self._extra_args
            )
            self.info = ChromiumInfo(self._endpoint, "remote (Playwright server)")
        elif self._cdp_endpoint:
            browser = await self._playwright.chromium.connect_over_cdp(self._cdp_endpoint)
            self.info = ChromiumInfo(self._cdp_endpoint, "remote (CDP)")
        else:
            browser, self.info = await launch_chromium(
                self._playwright, self._chromium_path, self._headless, self._extra_args
            )
        browser.on("disconnected", lambda b: self._lost(b))
        return browser

    def _adopt(self, browser: Browser) -> None:
        self._current = browser
        self._failure = None
        self._served.setdefault(browser, 0)
        self._ready.set()

    def _retire(self, browser: Browser) -> None:
        """Recycle: a fresh browser takes new sessions; this one closes once its last one ends."""
        log.info("recycling Chromium after %d sessions", self._served.get(browser, 0))
        self.recycles += 1
        self._draining.add(browser)
        self._current = None
        self._ready.clear()
        for listener in self._on_retired:
            listener(browser)
        self._close_if_drained(browser)
        self._schedule_relaunch(count_restart=False)

    def _lost(self, browser: Browser) -> None:
        if browser in self._closing or self._closed:
            self._forget(browser)
            return
        log.error("Chromium disconnected unexpectedly; relaunching")
        was_current = browser is self._current
        self._forget(browser)
        if was_current:
            self._current = None
            self._ready.clear()
        for listener in self._on_lost:
            try:
                listener(browser)
            except Exception:  # a listener must not stop recovery
                log.exception("browser-lost listener failed")
        if was_current:
            self._schedule_relaunch()

    def _forget(self, browser: Browser) -> None:
        self._served.pop(browser, None)
        self._draining.discard(browser)

    def _schedule_relaunch(self, count_restart: bool = True) -> None:
        if self._closed or (self._relaunch and not self._relaunch.done()):
            return
        self._relaunch = asyncio.create_task(self._relaunch_with_backoff(count_restart))

    async def _relaunch_with_backoff(self, count_restart: bool) -> None:
        """Local Chromium: a few tries, then give up until the next start asks again.
        A remote browser may be down for a while: keep trying every few seconds."""
        attempt = 0
        while attempt < len(BACKOFF) or (self.remote and not self._closed):
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            await self._sleep(delay)
            try:
                browser = await self._launch()
            except Exception as exc:
                self._failure = f"attempt {attempt} failed: {first_line(exc)}"
                log.warning("relaunching Chromium, %s", self._failure)
                continue
            if count_restart:
                self.restarts += 1
            self._adopt(browser)
            log.info("Chromium %s", "relaunched" if count_restart else "recycled")
            return
        log.error("Chromium could not be relaunched after %d attempts", len(BACKOFF))
