"""A memory snapshot of a booted Pyodide, made once per worker process, so web-python pages
start in about a second instead of booting Pyodide, installing wheels and importing hypha-rpc.

Pyodide 0.28 can dump its WebAssembly memory (``makeMemorySnapshot``, with ``_makeSnapshot``
given at load) and start from such a dump (``_loadSnapshot``). The worker opens one private
page that boots the full way with ``_makeSnapshot``, imports hypha-rpc and the boot module,
then uploads a bundle: the memory dump plus the installed site-packages files (the in-memory
file system is not part of the dump), see ``templates/web-python.worker.js``. The local asset
server keeps the bundle in memory and serves it to every web-python page; a page asking
before it is ready waits for it, and a page that cannot get it boots the full way. The bundle
is made when a page first asks for it, so a worker that runs no Python app never pays for it.

The upload needs a secret only the maker page is given, and is taken once: app pages can
reach the asset server, and a snapshot is code every later page runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from browser_worker._pyodide.assets import PYODIDE_VERSION
from browser_worker._pyodide.page_assets import PageAssets
from browser_worker._browser import BrowserHost
from browser_worker._render import template_text, render_worker_page
from browser_worker.errors import first_line

log = logging.getLogger(__name__)

ROUTE = "/pyodide-snapshot/"
SECRET_HEADER = "X-Browser-Worker-Upload"
MAKER_PATH = "/__browser_worker__/snapshot-maker.html"
#: Largest bundle the asset server takes (a booted interpreter is ~30 MB).
MAX_BYTES = 512 * 2**20
#: How long a page waits for a snapshot still being made before booting the full way.
WAIT_SECONDS = 120.0


def snapshot_key(wheels: list[str]) -> str:
    """Names a bundle by what went into it (Pyodide, the base wheels, the boot code), so a page
    never mixes up bundles; the package base is fixed for the worker's process, like the bundle."""
    parts = [PYODIDE_VERSION, *wheels, template_text("web_python_boot.py"), template_text("web-python.worker.js")]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class SnapshotStore:
    """The bundle, uploaded once by the maker page and served to every web-python page."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._secret: str | None = secrets.token_urlsafe(32)
        self._bundle: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._maker: Callable[[], Awaitable[None]] | None = None
        self._making: asyncio.Task[None] | None = None
        self.failure: str | None = None
        self.made_in: float | None = None  # seconds the maker took

    def set_maker(self, maker: Callable[[], Awaitable[None]]) -> None:
        """What makes the bundle, started by the first request for it (or ``ensure_started``)."""
        self._maker = maker

    def ensure_started(self) -> None:
        if self._making is None and self._maker is not None and not self._bundle.done():
            self._making = asyncio.create_task(self._maker(), name="browser-worker-pyodide-snapshot")

    async def close(self) -> None:
        if self._making is not None:
            self._making.cancel()
            await asyncio.gather(self._making, return_exceptions=True)
        self.fail("the worker closed")

    @property
    def path(self) -> str:
        return ROUTE + self.key

    @property
    def ready(self) -> bool:
        return self._bundle.done() and not self._bundle.cancelled() and self._bundle.exception() is None

    @property
    def size(self) -> int:
        return len(self._bundle.result()) if self.ready else 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(self.path, self._get)
        app.router.add_put(self.path, self._put)

    def fail(self, reason: str) -> None:
        """Give up on this process's snapshot: waiting pages boot the full way."""
        self._secret = None
        if not self._bundle.done():
            self.failure = reason
            self._bundle.set_exception(RuntimeError(reason))
            self._bundle.exception()  # retrieved: no "never retrieved" warning

    def upload_config(self, assets_url: str) -> dict[str, str]:
        """What the maker page needs to upload (never given to app pages)."""
        if self._secret is None:
            raise RuntimeError("the snapshot was already uploaded or given up")
        return {"url": assets_url.rstrip("/") + self.path, "secret": self._secret}

    async def wait(self, timeout: float) -> bytes:
        return await asyncio.wait_for(asyncio.shield(self._bundle), timeout)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        self.ensure_started()
        try:
            body = await self.wait(WAIT_SECONDS)
        except Exception as exc:
            raise web.HTTPNotFound(text=f"no Pyodide snapshot: {exc or 'not ready in time'}") from None
        return web.Response(body=body, content_type="application/octet-stream")

    async def _put(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if self._secret is None or not hmac.compare_digest(given.encode(), self._secret.encode()):
            raise web.HTTPForbidden(text=f"{SECRET_HEADER}: not the maker's upload secret")
        self._secret = None  # one upload only, good or bad
        chunks, size = [], 0
        async for chunk in request.content.iter_chunked(1 << 20):
            size += len(chunk)
            if size > MAX_BYTES:
                self.fail(f"the snapshot bundle exceeds {MAX_BYTES} bytes")
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_BYTES, actual_size=size)
            chunks.append(chunk)
        if not self._bundle.done():
            self._bundle.set_result(b"".join(chunks))
        return web.Response(status=204)


async def make_snapshot(host: BrowserHost, store: SnapshotStore, assets: PageAssets,
                        timeout: float = 180.0) -> None:
    """Boot Pyodide the full way in a private page and have it upload its snapshot to ``store``;
    on any failure, ``store.fail`` names why (pages then boot the full way)."""
    t0 = time.monotonic()
    assets_url = assets.url.rstrip("/")
    config = {"assets": assets.page_config(), "snapshot_upload": store.upload_config(assets_url)}
    html = render_worker_page("web-python", None, config)
    context = None
    browser = None
    try:
        browser = await host.browser(timeout)
        context = await browser.new_context()
        host.context_opened(browser)
        page = await context.new_page()
        lines: list[str] = []
        page.on("console", lambda message: lines.append(message.text))

        async def serve(route: Any) -> None:
            await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

        # At the asset server's origin, so the upload is a same-origin request.
        await page.route(assets_url + MAKER_PATH, serve)
        await page.goto(assets_url + MAKER_PATH, wait_until="domcontentloaded")
        await page.wait_for_function("() => window.__bwWarm !== undefined", timeout=timeout * 1000)
        result = await asyncio.wait_for(page.evaluate("() => window.__bwWarm"), timeout)
        if result is not True:
            detail = " | ".join(lines[-5:])
            raise RuntimeError(f"{result}" + (f" (page console: {detail})" if detail else ""))
        await store.wait(5.0)  # uploaded before the page reported success
        store.made_in = time.monotonic() - t0
        log.info("Pyodide snapshot made in %.1fs (%.1f MB)", store.made_in, store.size / 1e6)
    except asyncio.CancelledError:
        store.fail("the worker closed before the snapshot was made")
        raise
    except Exception as exc:
        reason = first_line(exc)
        log.warning("could not make a Pyodide snapshot (web-python pages boot the full way): %s", reason)
        store.fail(reason)
    finally:
        if context is not None:
            try:
                await asyncio.wait_for(context.close(), 10)
            except Exception as exc:  # a dead or hung browser: the host's bookkeeping still frees it
                log.debug("closing the snapshot context failed: %r", exc)
            host.context_closed(browser)
