"""A loopback HTTP server that hands cached bodies to Playwright's driver.

A body handed to ``route.fulfill(body=...)`` travels from Python to the driver base64-encoded
(about half a second for 5 MB on two cores). Fetched by the driver itself from this server
(``context.request.get``) and fulfilled with ``route.fulfill(response=...)``, it never passes
through Python and leaves the file with ``sendfile``. Only the worker can read it: each
request must carry this process's random secret in a header pages never see; an entry is
addressed by its key (the hash of workspace, app id and URL), which the router computes from
the request it answers.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets

from aiohttp import web

from browser_worker._route_cache.store import RouteStore
from browser_worker._net import start_site

SECRET_HEADER = "x-browser-worker-cache-secret"
_KEY = re.compile(r"^[0-9a-f]{64}$")


class BodyServer:
    """Started on first use, on 127.0.0.1 and a free port."""

    def __init__(self, store: RouteStore) -> None:
        self._store = store
        self.secret = secrets.token_urlsafe(32)
        self._runner: web.AppRunner | None = None
        self._base: str | None = None
        self._starting = asyncio.Lock()

    async def url_for(self, key: str) -> str:
        if self._base is None:
            async with self._starting:
                if self._base is None:
                    self._base = await self._start()
        return f"{self._base}/entry/{key}"

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_get("/entry/{key}", self._entry)
        self._runner, base = await start_site(app)
        return base

    async def _entry(self, request: web.Request) -> web.StreamResponse:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), self.secret):
            raise web.HTTPForbidden()
        key = request.match_info["key"]
        path = self._store.path_of(key) if _KEY.match(key) else None
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})

    async def close(self) -> None:
        runner, self._runner, self._base = self._runner, None, None
        if runner is not None:
            await runner.cleanup()
