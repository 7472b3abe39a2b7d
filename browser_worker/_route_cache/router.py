"""The route cache on a session's browser context.

``attach`` adds one route to the context (warm pool contexts included: a route may be added
after a context was made) matching the app's ``cache_routes``. For each matching request the
handler answers from disk when it can, without touching the network; otherwise it fetches the
response itself (``route.fetch``), stores it if the rules allow, and fulfills the request with
it. Requests the rules exclude go on unchanged (``fallback``: the pool's ``--allow-hosts``
guard still sees them). Disk work runs in a thread; the index is written a moment after the
last change, and at ``close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from browser_worker._route_cache.rules import (CacheRule, install_key, kept_headers, parse_rule, request_cacheable,
                                         response_storable)
from browser_worker._route_cache.bodies import SECRET_HEADER, BodyServer
from browser_worker._route_cache.store import Found, RouteStore
from browser_worker._net import NetworkPolicy
from browser_worker._net import display_url, origin_of

if TYPE_CHECKING:
    from playwright.async_api import APIResponse, BrowserContext, Route

log = logging.getLogger(__name__)

#: Milliseconds one fetch of a cacheable URL may take (a page's own requests have no limit,
#: but a session's context closing ends it anyway).
FETCH_TIMEOUT_MS = 300_000
#: Header on responses served from disk (handy in DevTools and tests).
HIT_HEADER = "x-browser-worker-cache"


@dataclass
class SessionCacheCounts:
    """What one session's route cache did."""

    hits: int = 0
    fetched: int = 0
    stored: int = 0


class RouteCache:
    """Every app's route cache in one worker (one :class:`RouteStore` directory)."""

    def __init__(self, store: RouteStore, net: NetworkPolicy, flush_delay: float = 1.0) -> None:
        self.store = store
        self.net = net
        self._flush_delay = flush_delay
        self._flushing: asyncio.Task[None] | None = None
        self._bodies = BodyServer(store)
        #: False once the driver could not reach the body server (a remote Playwright server).
        self._driver_is_local = True

    @property
    def enabled(self) -> bool:
        return self.store.max_bytes > 0

    def rule_for(self, manifest: Mapping[str, Any], app_type: str) -> CacheRule | None:
        """The app's rule (checked even when the cache is off, so a bad manifest fails alike)."""
        rule = parse_rule(manifest, app_type)
        return rule if self.enabled else None

    async def attach(self, context: "BrowserContext", workspace: str, app_id: str, rule: CacheRule,
                     skip_origins: Iterable[str] = ()) -> SessionCacheCounts:
        """Serve and fill ``(workspace, app_id)``'s cache for the requests of ``context``;
        requests to ``skip_origins`` (the worker's own asset server) are left alone."""
        counts = SessionCacheCounts()
        skip = frozenset(skip_origins)

        def wanted(url: str) -> bool:
            return rule.matches(url) and origin_of(url) not in skip

        async def handle(route: "Route") -> None:
            try:
                await self._handle(route, context, workspace, app_id, counts, rule.explicit)
            except Exception as exc:  # the page or context went away meanwhile, mostly
                log.debug("route cache: %s: %s", display_url(route.request.url), exc)
                with contextlib.suppress(Exception):  # not handled yet: let the request go on
                    await route.fallback()  # (else Playwright's task for it waits forever)

        await context.route(wanted, handle)
        return counts

    async def _handle(self, route: "Route", context: "BrowserContext", workspace: str, app_id: str,
                      counts: SessionCacheCounts, explicit: bool = False) -> None:
        request = route.request
        url, headers = request.url, request.headers
        if not request_cacheable(request.method, url, headers) or (
                self.net.allow_hosts and not self.net.host_allowed(url)):
            await route.fallback()
            return
        found = await asyncio.to_thread(self.store.lookup, workspace, app_id, url)
        if found is not None and await self._serve(route, context, found):
            counts.hits += 1
            self._changed()
            return
        if await context.cookies(url):
            await route.fallback()  # the browser would send cookies: the answer may be personal
            return
        forward = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
        try:
            response = await route.fetch(headers=forward, max_redirects=0, timeout=FETCH_TIMEOUT_MS)
        except Exception as exc:  # unreachable origin, DNS failure, timeout
            log.debug("route cache: fetching %s failed: %s", display_url(url), exc)
            await route.abort("failed")
            return
        try:
            counts.fetched += 1
            await self._answer(route, response, workspace, app_id, url, counts, explicit)
        finally:
            with contextlib.suppress(Exception):
                await response.dispose()

    async def _answer(self, route: "Route", response: "APIResponse", workspace: str, app_id: str,
                      url: str, counts: SessionCacheCounts, explicit: bool = False) -> None:
        """Fulfill with the fetched response; keep it when it may be kept."""
        headers = response.headers
        length = headers.get("content-length", "")
        too_big = length.isdigit() and int(length) > self.store.max_entry_bytes
        if too_big or not response_storable(response.status, headers, explicit=explicit):
            await route.fulfill(response=response)  # the body stays in Playwright's driver
            return
        body = await response.body()
        kept = kept_headers(headers)
        if await asyncio.to_thread(self.store.put, workspace, app_id, url, response.status, kept, body):
            counts.stored += 1
            self._changed()
        await route.fulfill(response=response, headers=kept)  # the driver still has the body

    async def _serve(self, route: "Route", context: "BrowserContext", found: Found) -> bool:
        """Fulfill from disk: the driver fetches the body from the loopback body server; if
        it cannot (a remote Playwright server has another loopback), the body goes through
        Python. False: the entry went away meanwhile."""
        headers = {**found.headers, HIT_HEADER: "hit"}
        local = None
        if self._driver_is_local:
            try:
                local = await context.request.get(
                    await self._bodies.url_for(found.key), max_redirects=0, timeout=FETCH_TIMEOUT_MS,
                    headers={SECRET_HEADER: self._bodies.secret, "accept-encoding": "identity"})
            except Exception as exc:
                if context.pages:  # not just a session that ended meanwhile
                    log.info("route cache: the browser driver cannot reach the body server (%s); "
                             "cached bodies go through the worker", exc)
                    self._driver_is_local = False
        if local is not None:
            try:
                if local.status == 200:
                    await route.fulfill(response=local, status=found.status, headers=headers)
                    return True
            finally:
                with contextlib.suppress(Exception):
                    await local.dispose()
        body = await asyncio.to_thread(self.store.read, found)
        if body is None:
            return False
        await route.fulfill(status=found.status, headers=headers, body=body)
        return True

    # ----- the methods of the service ----------------------------------------------------

    async def clear(self, workspace: str, app_id: str) -> int:
        return await asyncio.to_thread(self.store.clear, workspace, app_id)

    async def adopt_install(self, workspace: str, content_hash: str, app_id: str) -> int:
        """Give the app what was cached when its bundle was installed (see ``prefill``)."""
        pending = install_key(content_hash)
        if pending is None or pending == app_id:
            return 0
        return await asyncio.to_thread(self.store.adopt, workspace, pending, app_id)

    async def stats(self, workspace: str, app_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.store.stats, workspace, app_id)

    # ----- the index on disk -------------------------------------------------------------

    def _changed(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_soon(), name="route-cache-flush")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self._flush_delay)
        await asyncio.to_thread(self.store.flush)

    async def close(self) -> None:
        """Write the index now and release the directory."""
        task, self._flushing = self._flushing, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._bodies.close()
        await asyncio.to_thread(self.store.close)
