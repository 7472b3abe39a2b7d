"""``browser-worker serve``: register on a Hypha server and serve until told to stop.

SIGTERM (what systemd, Docker and Kubernetes send) drains: new starts are refused, starts in
flight get ``--drain-timeout`` seconds, every session is stopped while the service is still
registered (so the server's controller hears of each), then the service is unregistered and the
process exits 0. SIGINT (Ctrl-C) does the same; a second signal skips what is left of the wait.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import signal
import sys
from typing import Any

from browser_worker.config import WorkerSettings

log = logging.getLogger("browser_worker")


def public_problem(settings: WorkerSettings, root_token: str | None) -> str | None:
    """Why ``serve --public`` cannot run with these settings (None: it can)."""
    if not settings.server_url:
        return "needs --server-url (or HYPHA_SERVER_URL): the server whose 'public' workspace to join"
    if settings.workspace not in (None, "public"):
        return f"--workspace {settings.workspace!r} contradicts --public (workspace 'public')"
    if not root_token and not settings.token:
        return ("needs the server's root token in HYPHA_ROOT_TOKEN (or --root-token), or a token "
                "minted for workspace 'public' in HYPHA_TOKEN; see `browser-worker serve --help`")
    return None


async def serve(settings: WorkerSettings, public: bool = False, root_token: str | None = None) -> int:
    from browser_worker.hypha import PUBLIC, registered_public
    from browser_worker.hypha import registered
    from browser_worker.worker import BrowserWorker

    signals = Signals()

    async def wait(service: Any, conn: Any = None) -> int:
        """Serve until a signal, a shutdown through the service, or the server lost for good."""
        from browser_worker.hypha import ConnectionWatch, lost_message
        from browser_worker.hypha import SessionAudit

        watch = ConnectionWatch(conn, server_url=settings.server_url) if conn is not None else None
        audit = None
        if watch is not None:  # back on a restarted server: end the sessions whose page is not
            audit = SessionAudit(service.worker, conn, grace=settings.session_reconnect_grace)
            watch.on_reconnected.append(audit.reconnected)
            # App pages back as soon as the server is (not on their own back-off), and again
            # once the worker is (a page's first try may have raced the server's start-up).
            watch.on_server_ready.append(service.worker.reconnect_pages)
            watch.on_reconnected.append(service.worker.reconnect_pages)
        metrics = None
        if settings.metrics_port:
            from browser_worker.metrics import serve_metrics

            metrics = await serve_metrics(service.worker.metrics, settings.metrics_host, settings.metrics_port)
            print(f"Metrics: http://{settings.metrics_host}:{settings.metrics_port}/metrics (health: /health)", flush=True)
        try:
            await signals.first_of(service.shutdown_requested, *([watch.lost] if watch else []))
            if watch is not None and watch.lost.is_set():
                print(f"browser-worker: {lost_message(settings.server_url or '', watch.reason, settings.token)}",
                      file=sys.stderr, flush=True)
                return 3
            print(f"Draining: new starts refused; starts in flight get up to {settings.drain_timeout:g}s, "
                  "then every session is stopped.", flush=True)
            await signals.unless_signalled(service.worker.drain(settings.drain_timeout))
            return 0
        finally:
            if watch is not None:
                watch.close()
            if audit is not None:
                audit.close()
            if metrics is not None:
                await metrics.cleanup()

    if not settings.server_url:
        if importlib.util.find_spec("hypha") is None:  # e.g. the container image: no server inside
            print("browser-worker: no --server-url (or HYPHA_SERVER_URL) was given, and the local Hypha "
                  "server `serve` would start instead is not installed (pip install 'browser-worker[server]'); "
                  "set HYPHA_SERVER_URL to the Hypha server to serve", file=sys.stderr, flush=True)
            return 2
        from browser_worker.testing import embedded

        async with embedded(settings) as env:
            print(f"Local Hypha server: {env.server_url}", flush=True)
            print(f"Workspace: {env.workspace}", flush=True)
            print(f"Token (log in / connect with it): {env.token}", flush=True)
            if env.service.viewer_url:
                print(f"Live viewer: {env.service.viewer_url}", flush=True)
            print("Browser worker registered; Ctrl-C to stop.", flush=True)
            await wait(env.service)
        print("Stopped: all sessions closed, browser closed, local server stopped.", flush=True)
        return 0

    async with BrowserWorker(settings) as worker:
        if public and root_token:
            registration = registered_public(worker, settings.server_url, root_token, settings.service_id)
        else:
            registration = registered(worker, settings.server_url, settings.token,
                                      PUBLIC if public else settings.workspace, settings.service_id)
        async with registration as (service, conn):
            where = f" in workspace {conn.config.workspace}" if public else ""
            if service.viewer_url:
                print(f"Live viewer: {service.viewer_url} (sign in with a token of the workspace to watch)", flush=True)
            print(f"Browser worker registered on {settings.server_url}{where}; Ctrl-C to stop.", flush=True)
            status = await wait(service, conn)
        if status == 0:
            print("Service unregistered.", flush=True)
    print("Stopped: all sessions closed, browser closed.", flush=True)
    return status


class Signals:
    """SIGTERM and SIGINT as events: the first one starts the drain, a second one cuts it short."""

    def __init__(self) -> None:
        self.count = 0
        self._first = asyncio.Event()
        self._second = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self.count += 1
        log.info("%s received%s", sig.name, "" if self.count == 1 else "; skipping the rest of the drain")
        (self._first if self.count == 1 else self._second).set()

    async def first_of(self, *others: asyncio.Event) -> None:
        """Until a signal arrives or one of ``others`` is set."""
        waiters = {asyncio.ensure_future(e.wait()) for e in (self._first, *others)}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def unless_signalled(self, work: Any) -> None:
        """Run ``work`` to its end, or until a second signal."""
        task = asyncio.ensure_future(work)
        second = asyncio.ensure_future(self._second.wait())
        try:
            await asyncio.wait({task, second}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, second):
                t.cancel()
            await asyncio.gather(task, second, return_exceptions=True)
