"""Serving an aiohttp app of the worker's own on a free local port (the Pyodide asset server,
the route cache's body server; tests use the same for the servers they control)."""

from __future__ import annotations

import ssl

from aiohttp import web


async def start_site(app: web.Application, host: str = "127.0.0.1", port: int = 0, *,
                     ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, str]:
    """Start ``app`` on ``host:port`` (0: a free port) → (its runner, to ``cleanup()`` when done;
    its base URL, without a trailing slash)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    scheme = "https" if ssl_context else "http"
    return runner, f"{scheme}://{host}:{bound}"
