"""A warm pool of isolated browser contexts, with a bounded number of sessions.

Creating a context and page costs tens of milliseconds and importing the Hypha RPC module
another hundred or more, so contexts are made ahead of demand. Each one serves exactly one
session and is then closed, never reused: no cookie, storage or cache can leak between apps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Callable

from playwright.async_api import Browser

from browser_worker._net import origin_of
from browser_worker._aio import TaskSet
from browser_worker._browser.boot_gate import REFILL, BootGate, default_limit
from browser_worker._browser.host import BrowserHost
from browser_worker._browser.lease import DISCARD_CONSOLE, WARM_KIND, Lease, popup_guard_script
from browser_worker._browser.demand import BurstDemand
from browser_worker.errors import CapacityError
from browser_worker._browser.module_cache import ModuleCache
from browser_worker._render import console_capture_script, hypha_rpc_url, render_shell, render_worker_page
from browser_worker.config import DEFAULTS

log = logging.getLogger(__name__)

SHELL_PATH = "/__browser_worker__/shell.html"
PYTHON_SHELL_PATH = "/__browser_worker__/python.html"

class ContextPool:
    """Hands out fresh contexts; keeps ``size`` warm ones ready and at most ``max_sessions`` out."""

    def __init__(
        self,
        host: BrowserHost,
        *,
        size: int = DEFAULTS.pool_size,
        python_size: int = 0,
        max_sessions: int = DEFAULTS.max_sessions,
        warm_server_url: str | None = None,
        context_options: dict[str, Any] | None = None,
        allow_request: Callable[[str], bool] | None = None,
        python_config: dict[str, Any] | None = None,
        python_boot_limit: int = 0,
        python_max: int = 0,
        clock: Callable[[], float] | None = None,
        call_later: Callable[[float, Callable[[], Any]], Any] | None = None,
    ) -> None:
        self._host = host
        # The refill back-off's clock and timer (unit tests inject fakes; default: the loop's).
        self._clock = clock or time.monotonic
        self._call_later = call_later
        #: Web-python pages booting at once (0: one per CPU core); sessions go before refills.
        self.python_boots = BootGate(python_boot_limit or default_limit())
        # Warm pages need the server's origin; without one there is nothing to pre-load.
        self._sizes = {"window": size, "web-python": python_size if warm_server_url else 0}
        #: Warm Python pages: ``python_size``, raised to recent bursts of starts up to
        #: ``python_max`` (none at all when ``python_size`` is 0).
        floor = self._sizes["web-python"]
        self.python_demand = BurstDemand(floor, max(python_max, floor) if floor else 0)
        self._python_config = python_config or {}
        self._max = max_sessions
        self._warm_server_url = warm_server_url
        self._context_options = {"accept_downloads": False, **(context_options or {})}
        #: The network policy's ``--allow-hosts`` rule; other requests of pages are aborted.
        self._allow_request = allow_request
        #: The server's RPC module, downloaded once for all warm pages (see module_cache.py).
        self.modules = ModuleCache()
        self._ready: list[Lease] = []
        self._slots = asyncio.Semaphore(max_sessions)
        self._in_use = 0
        self._waiting = 0
        # One refiller per kind, so a Python page booting for seconds never delays window pages.
        self._wanted = {kind: asyncio.Event() for kind in self._sizes}
        self._refillers: list[asyncio.Task[None]] = []
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._background = TaskSet("pool")
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

    def idle_of(self, kind: str) -> int:
        return sum(1 for lease in self._ready if lease.warm_kind == kind or (kind == "cold" and lease.warm_kind is None))

    def target(self, kind: str) -> int:
        """Warm pages of ``kind`` the pool keeps now."""
        return self.python_demand.target() if kind == "web-python" else self._sizes.get(kind, 0)

    async def start(self) -> None:
        """Fill the window pool once (so the first start is warm), then keep every kind filled;
        warm Python pages take seconds to boot, so they fill in the background."""
        await asyncio.gather(*(self._add_one("window") for _ in range(self._sizes["window"])),
                             return_exceptions=True)
        self._want()
        self._refillers = [asyncio.create_task(self._refill_forever(kind), name=f"browser-worker-pool-refill-{kind}")
                           for kind in self._sizes]

    async def acquire(self, timeout: float, app_type: str = "window",
                      context_options: dict[str, Any] | None = None) -> Lease:
        """Take a context for a new session, waiting up to ``timeout`` s for a free slot (and,
        after a crash, for the relaunched browser). ``context_options``: the session needs a
        context made with these (e.g. its own device scale factor), so it gets a fresh one
        instead of a warm one; it takes a slot and is released like any other."""
        if self._closed:
            raise CapacityError("worker is shutting down")
        deadline = time.monotonic() + timeout
        self._waiting += 1
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a slot it acquired
            # just as the timeout or a cancellation fires.
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise CapacityError(
                f"worker at capacity ({self._in_use}/{self._max} sessions); "
                f"no slot became free within {timeout:g}s"
            ) from None
        finally:
            self._waiting -= 1
        self._in_use += 1
        kind = WARM_KIND.get(app_type, "window")
        if kind == "web-python":
            self.python_demand.note()  # the refill after this start aims at recent bursts
        try:
            lease = self._take_ready(kind) if context_options is None else None
            if lease is None:
                # Chromium makes the context even if we stop waiting for it: a cancelled
                # acquire hands the finished lease to _discard instead of leaking it.
                making = asyncio.ensure_future(
                    self._new_lease(warm=None, timeout=max(0.1, deadline - time.monotonic()),
                                    options=context_options)
                )
                try:
                    lease = await asyncio.shield(making)
                except asyncio.CancelledError:
                    making.add_done_callback(self._discard_made)
                    raise
        except BaseException:
            self._in_use -= 1
            self._slots.release()
            raise
        return lease

    def _discard_made(self, making: "asyncio.Future[Lease]") -> None:
        if not making.cancelled() and making.exception() is None:
            self._background.spawn(self._discard(making.result()))

    def refill(self) -> None:
        """Top the warm set up again. Callers do this once a start has finished booting, so
        that warming (CPU-heavy) does not compete with the start it would replace."""
        self._want()

    def _want(self) -> None:
        for wanted in self._wanted.values():
            wanted.set()

    async def release(self, lease: Lease, timeout: float = 10.0) -> None:
        """Close the session's context (never reused) and free its slot."""
        try:
            if lease.browser.is_connected():  # a dead browser took its contexts with it
                await asyncio.wait_for(lease.context.close(), timeout)
        except Exception as exc:  # a dying browser or a hung page must not keep the slot
            log.warning("closing a browser context failed: %s", exc or type(exc).__name__)
        finally:
            self._host.context_closed(lease.browser)
            self._in_use -= 1
            self._slots.release()
            self._want()

    async def close(self) -> None:
        self._closed = True
        for refiller in self._refillers:
            refiller.cancel()
        await asyncio.gather(*self._refillers, return_exceptions=True)
        ready, self._ready = self._ready, []
        await asyncio.gather(*(self._discard(lease) for lease in ready), return_exceptions=True)
        await self._background.wait()

    def _take_ready(self, kind: str) -> Lease | None:
        for lease in [lease for lease in self._ready if lease.warm_kind == kind]:
            self._ready.remove(lease)
            if self._host.is_current(lease.browser) and not lease.page.is_closed():
                return lease
            self._background.spawn(self._discard(lease))
        return None

    def retarget(self, server_url: str) -> None:
        """Warm pages at ``server_url`` from now on (the URL the server hands pages turned out
        to differ from the one the worker was given); warm pages at another origin go."""
        if not self._warm_server_url or origin_of(server_url) == origin_of(self._warm_server_url):
            return
        self._warm_server_url = server_url
        stale = [lease for lease in self._ready if lease.warm_origin and lease.warm_origin != origin_of(server_url)]
        self._ready = [lease for lease in self._ready if lease not in stale]
        for lease in stale:
            self._background.spawn(self._discard(lease))
        self._want()

    def _drop_browser(self, browser: Browser) -> None:
        """The browser died or is retiring: its warm contexts must not be handed out."""
        stale = [lease for lease in self._ready if lease.browser is browser]
        self._ready = [lease for lease in self._ready if lease.browser is not browser]
        for lease in stale:
            self._background.spawn(self._discard(lease))
        self._want()

    async def _discard(self, lease: Lease) -> None:
        try:
            await asyncio.wait_for(lease.context.close(), 5)
        except Exception:
            pass
        finally:
            self._host.context_closed(lease.browser)

    async def _refill_forever(self, kind: str) -> None:
        wanted = self._wanted[kind]
        # Python pages boot a few at a time (the gate's limit); a burst target also falls back
        # with time, so that refiller looks again every minute.
        batch = self.python_boots.limit if kind == "web-python" else 1
        recheck = 60.0 if kind == "web-python" else None
        while not self._closed:
            try:
                await asyncio.wait_for(wanted.wait(), recheck)
            except TimeoutError:
                pass
            wanted.clear()
            if self._clock() < self._retry_at.get(kind, 0.0):
                continue
            await self._trim(kind)
            while not self._closed and self.idle_of(kind) < self.target(kind):
                missing = min(batch, self.target(kind) - self.idle_of(kind))
                added = await asyncio.gather(*(self._add_one(kind) for _ in range(missing)))
                if any(added):
                    self._failures[kind] = 0
                    continue
                # Back off (0.5 s doubling to 60 s): the browser may be relaunching, or a
                # Python page may be unable to boot; either way, do not spin.
                self._failures[kind] = self._failures.get(kind, 0) + 1
                delay = min(60.0, 0.5 * 2 ** (self._failures[kind] - 1))
                self._retry_at[kind] = self._clock() + delay
                (self._call_later or asyncio.get_running_loop().call_later)(delay, wanted.set)
                break

    async def _trim(self, kind: str) -> None:
        """Close warm pages above the target (a burst's extra pages, once it is over)."""
        extra = self.idle_of(kind) - self.target(kind)
        for lease in [lease for lease in self._ready if lease.warm_kind == kind][:max(0, extra)]:
            self._ready.remove(lease)
            await self._discard(lease)

    async def _add_one(self, kind: str) -> bool:
        try:
            lease = await self._new_lease(warm=kind, timeout=30)
        except Exception as exc:
            log.warning("could not prepare a warm browser context: %s", exc)
            return False
        if self._closed or not self._host.is_current(lease.browser):
            await self._discard(lease)  # the browser died or started draining meanwhile
            return False
        self._ready.append(lease)
        return True

    async def _new_lease(self, warm: str | None, timeout: float, options: dict[str, Any] | None = None) -> Lease:
        browser = await self._host.browser(timeout)
        context = await browser.new_context(**{**self._context_options, **(options or {})})
        self._host.context_opened(browser)
        try:
            if self._allow_request is not None:
                await context.route("**/*", self._guard)
            await context.add_init_script(script=console_capture_script())
            await context.add_init_script(script=popup_guard_script())
            page = await context.new_page()
            lease = Lease(browser, context, page, boot_gate=self.python_boots, background=self._background)
            context.on("page", lease._popup)  # after new_page: the lease's own page is not a popup
            if warm and self._warm_server_url:
                await self._warm(lease, self._warm_server_url, warm)
            elif warm:
                lease.warm_kind = warm  # no server to pre-load from: a context made ahead still helps
            return lease
        except BaseException:
            await self._discard(Lease(browser, context, None))  # type: ignore[arg-type]
            raise

    async def _guard(self, route: Any) -> None:
        """Abort requests to hosts outside the allow-list (``--allow-hosts``)."""
        assert self._allow_request is not None
        if self._allow_request(route.request.url):
            await route.fallback()
        else:
            await route.abort("blockedbyclient")

    async def _warm(self, lease: Lease, server_url: str, kind: str) -> None:
        """Load a shell page at the server's origin: for ``window`` it imports the RPC module,
        for ``web-python`` it boots Pyodide and imports hypha-rpc in a Web Worker."""
        origin = origin_of(server_url)
        if kind == "web-python":
            shell_url = origin + PYTHON_SHELL_PATH
            html = render_worker_page("web-python", None, self._python_config)
            timeout = 120_000
        else:
            shell_url = origin + SHELL_PATH
            html = render_shell(server_url)
            timeout = 30_000

        async def serve_shell(route: Any) -> None:
            await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

        await lease.page.route(shell_url, serve_shell)
        module_url = hypha_rpc_url(server_url) if kind == "window" else None
        if module_url:
            await lease.page.route(module_url, self.modules.serve)
        # A Python page boots (seconds of CPU) only when no session is waiting for a boot slot.
        async with (self.python_boots.slot(REFILL) if kind == "web-python" else contextlib.nullcontext()):
            await lease.page.goto(shell_url, wait_until="domcontentloaded")
            await lease.page.unroute(shell_url, serve_shell)
            await lease.page.wait_for_function("() => window.__bwWarm !== undefined", timeout=timeout)
            result = await asyncio.wait_for(lease.page.evaluate("() => window.__bwWarm"), timeout / 1000)
        if module_url:
            await lease.page.unroute(module_url, self.modules.serve)
        if result is True:
            lease.warm_origin = origin
            lease.warm_kind = kind
            await lease.page.evaluate(DISCARD_CONSOLE)  # warm-up output is not the session's
        else:
            raise RuntimeError(f"pre-warming a {kind} page at {origin} failed: {result}")
