"""Filling an app's route cache at install (``compile``), so even its first start is served from
disk and works with the origin down.

At install the Hypha server has not named the app yet (it picks the id after ``compile``), so
what is fetched here is stored under the bundle's content hash in the installing workspace
(:func:`install_key`); the app's first start in that workspace moves it to the app's own entries
(``RouteStore.adopt``). Other workspaces never see it: every key holds the workspace.

Only what the bundle itself names is fetched: absolute ``http(s)`` URLs of its ``<script src>``,
``<link href>`` (stylesheets, preloads), ``<img src>``, and for a window bundle its
``requirements`` and the same tags in its markup, each matching the app's ``cache_routes``.
What a page loads at run time (``import()``, ``fetch``) is cached on its first start, as before.
Fetches are the worker's own (:class:`NetworkPolicy`: no internal addresses unless the operator
allows them), carry no credentials, and run within a deadline and the cache's byte budget; a
failed fetch is a warning, never a failed install.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Protocol

import lxml.html

from browser_worker._route_cache.rules import CacheRule, install_key, kept_headers, request_cacheable, response_storable
from browser_worker._net import display_url
from browser_worker._render import app_data, bundle_type
from browser_worker.errors import WorkerError

if TYPE_CHECKING:
    from browser_worker._net import NetworkPolicy
    from browser_worker._route_cache.store import RouteStore

#: URLs one install fetches at most, how many at once, and how long all of them may take.
MAX_URLS = 64
PARALLEL = 4
DEADLINE_SECONDS = 60.0
_TAGS = (("script", "src"), ("link", "href"), ("img", "src"))
_LINK_RELS = frozenset({"stylesheet", "preload", "modulepreload", "prefetch", "icon"})


class Reporter(Protocol):
    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...


def bundle_urls(html: str) -> list[str]:
    """The absolute ``http(s)`` URLs a bundle loads as it opens, in document order, once each."""
    urls = list(_tag_urls(html, whole=True))
    if bundle_type(html) == "window":
        app = app_data(html) or {}
        urls += [r for r in app.get("requirements") or [] if isinstance(r, str)]
        markup = app.get("window_html")
        if isinstance(markup, str) and markup.strip():
            urls += _tag_urls(markup, whole=False)
    return [u for u in dict.fromkeys(urls) if u.startswith(("http://", "https://"))]


def _tag_urls(html: str, *, whole: bool) -> Iterable[str]:
    try:
        root = lxml.html.document_fromstring(html) if whole else lxml.html.fragment_fromstring(html, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        return
    for tag, attr in _TAGS:
        for el in root.iter(tag):
            if tag == "link" and not _LINK_RELS & set((el.get("rel") or "").lower().split()):
                continue
            value = (el.get(attr) or "").strip()
            if value:
                yield value


@dataclass
class PrefillResult:
    wanted: int = 0
    stored: int = 0
    bytes: int = 0


async def prefill(store: "RouteStore", net: "NetworkPolicy", workspace: str, content_hash: str, html: str, rule: CacheRule,
                  progress: Reporter) -> PrefillResult:
    """Fetch and store the bundle's cacheable URLs under ``install_key(content_hash)``."""
    urls = [u for u in bundle_urls(html) if rule.matches(u) and request_cacheable("GET", u, {})]
    result = PrefillResult(wanted=min(len(urls), MAX_URLS))
    app = install_key(content_hash)
    if not urls or app is None:
        return result
    if len(urls) > MAX_URLS:
        progress.warning(f"Route cache: the bundle names {len(urls)} cacheable URLs; the first {MAX_URLS} "
                         "are fetched at install, the rest on the first start")
    deadline, gate = time.monotonic() + DEADLINE_SECONDS, asyncio.Semaphore(PARALLEL)

    async def one(url: str) -> None:
        async with gate:
            if result.bytes >= store.max_bytes:
                return
            try:
                got = await net.fetch(url, "cache_routes", max_bytes=store.max_entry_bytes, deadline=deadline)
            except WorkerError as exc:
                progress.warning(f"Route cache: {display_url(url)} was not cached at install ({exc})")
                return
        if not response_storable(200, got.headers, explicit=rule.explicit):
            return
        if await asyncio.to_thread(store.put, workspace, app, url, 200, kept_headers(got.headers), got.body):
            result.stored += 1
            result.bytes += len(got.body)

    await asyncio.gather(*(one(u) for u in urls[:MAX_URLS]))
    await asyncio.to_thread(store.flush)
    progress.info(f"Route cache: {result.stored} of {result.wanted} URL(s) the app loads were cached at install "
                  f"({result.bytes / 1e6:.1f} MB)")
    return result
