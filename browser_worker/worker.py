"""BrowserWorker: the Python API that runs app sessions in a warm pool of Chromium contexts.

Usable on its own (``async with BrowserWorker(settings) as worker``) or behind the Hypha
service in ``service.py``. Data flows one way: start config → document → pooled page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
from playwright.async_api import Playwright, async_playwright

from . import compiler, page_actions, page_logs
from .apptypes import SUPPORTED_TYPES
from .cache import EntryCache
from .asset_server import AssetServer
from .assets import default_paths
from .browser_host import BrowserHost
from .chromium import ChromiumInfo
from .config import WorkerSettings
from .errors import AppStartError, WorkerError
from .launch import StartRequest, build_document
from .loader import load
from .logs import LogBuffer
from .metrics import WorkerMetrics
from .page_logs import PAGE_CRASHED, PAGE_PROGRESS  # noqa: F401  (PAGE_PROGRESS re-exported)
from .pool import ContextPool, Lease
from .progress import Progress
from .session import Session, SessionRegistry, SessionStatus

log = logging.getLogger(__name__)

BROWSER_LOST = "Chromium exited unexpectedly; session failed (the worker relaunches it)"
CONSOLE_TYPES = {"warning": "warn", "assert": "error", "trace": "debug", "dir": "log", "table": "log"}


class BrowserWorker:
    """Runs Hypha browser apps; one isolated context per session."""

    supported_types = SUPPORTED_TYPES

    def __init__(self, settings: WorkerSettings | None = None) -> None:
        self.settings = settings or WorkerSettings.from_env()
        self.sessions = SessionRegistry(
            self.settings.log_retention, self.settings.log_retention_sessions,
            self.settings.retained_log_bytes,
        )
        self.started_at: float | None = None
        self._playwright: Playwright | None = None
        self._host: BrowserHost | None = None
        self._pool: ContextPool | None = None
        self._http: aiohttp.ClientSession | None = None
        self._assets: AssetServer | None = None
        self.assets_config: dict[str, Any] | None = None
        self._entries = EntryCache()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self.metrics = WorkerMetrics(self)

    # ----- lifetime -------------------------------------------------------------------------

    async def __aenter__(self) -> "BrowserWorker":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Launch Chromium now (not lazily) and fill the warm pool."""
        s = self.settings
        self._playwright = await async_playwright().start()
        try:
            self._host = BrowserHost(
                self._playwright, chromium_path=s.chromium_path, headless=s.headless,
                recycle_after=0 if (s.browser_endpoint or s.cdp_endpoint) else s.recycle_after,
                browser_endpoint=s.browser_endpoint, cdp_endpoint=s.cdp_endpoint,
                extra_args=tuple(s.chromium_args.split()),
            )
            await self._host.start()
            self._host.subscribe(on_lost=self._browser_lost)
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
            await self._start_assets()
            self._pool = ContextPool(
                self._host,
                size=s.pool_size,
                python_size=s.python_pool_size if self.assets_config else 0,
                python_config={"assets": self.assets_config},
                max_sessions=s.max_sessions,
                warm_server_url=s.server_url,
                context_options={"viewport": {"width": s.viewport_width, "height": s.viewport_height}},
                allowed_hosts=s.allowed_hosts,
            )
            await self._pool.start()
            if s.session_ttl > 0:
                self._reaper = asyncio.create_task(self._reap_expired(s.session_ttl))
        except BaseException:
            await self.close()
            raise
        self.started_at = time.monotonic()
        chromium = self.chromium
        log.info("browser worker ready: %s (%s)", chromium and chromium.path, chromium and chromium.source)

    async def close(self) -> None:
        """Stop every session, then close the pool, the browser and Playwright."""
        if self._reaper:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        for session in self.sessions.live_sessions():
            try:
                await self.stop(session.id)
            except Exception as exc:  # keep closing the rest
                log.warning("stopping %s during shutdown failed: %s", session.id, exc)
        if self._pool:
            await self._pool.close()
        if self._host:
            await self._host.close()
        if self._http:
            await self._http.close()
        if self._assets:
            await self._assets.close()
            self._assets = None
        if self._playwright:
            await self._playwright.stop()
        self._pool = self._host = self._http = self._playwright = None

    async def _start_assets(self) -> None:
        """Serve Pyodide and the wheelhouse locally, if the set-up step fetched them."""
        paths = default_paths()
        if not paths.ready():
            log.warning("no web-python assets in %s: web-python apps cannot start "
                        "(run `browser-worker assets fetch`)", paths.root)
            return
        self._assets = AssetServer(paths)
        url = await self._assets.start()
        self.assets_config = {"url": url, "wheels": paths.base_wheels()}

    @property
    def is_open(self) -> bool:
        return self._pool is not None and self._host is not None

    def context_count(self) -> int:
        """Browser contexts that exist right now (sessions plus warm ones), counted by Chromium."""
        return sum(len(b.contexts) for b in self._host.browsers()) if self._host else 0

    async def _reap_expired(self, ttl: float) -> None:
        """Stop sessions older than ``--session-ttl`` seconds."""
        while True:
            await asyncio.sleep(min(5.0, max(0.2, ttl / 4)))
            now = time.monotonic()
            for session in self.sessions.live_sessions():
                if session.status is SessionStatus.RUNNING and now - session.started > ttl:
                    session.logs.worker(f"Session lived longer than --session-ttl={ttl:g}s; stopping", "warning")
                    try:
                        await self.stop(session.id)
                    except Exception as exc:
                        log.warning("stopping expired session %s failed: %s", session.id, exc)

    @property
    def chromium(self) -> ChromiumInfo | None:
        return self._host.info if self._host else None

    @property
    def host(self) -> BrowserHost:
        if self._host is None:
            raise WorkerError("browser worker is not running (call open() or use 'async with')")
        return self._host

    @property
    def pool(self) -> ContextPool:
        if self._pool is None:
            raise WorkerError("browser worker is not running (call open() or use 'async with')")
        return self._pool

    # ----- sessions -------------------------------------------------------------------------

    async def start(self, config: dict[str, Any], context: dict[str, Any] | None = None) -> str:
        """Start an app session; return its id once the page loaded and the app code ran."""
        progress = Progress(config.get("progress_callback") if isinstance(config, dict) else None)
        req = StartRequest.parse(config, self.settings.start_timeout, self.settings.allow_file_urls)
        if self.sessions.is_live(req.session_id):
            raise WorkerError(f"Session {req.session_id} already exists")
        logs = LogBuffer(self.settings.max_log_entries, [req.token] if req.token else [],
                         max_bytes=self.settings.max_log_bytes,
                         max_entry_bytes=self.settings.max_log_entry_bytes)
        session = Session(
            id=req.session_id,
            app_id=req.app_id,
            workspace=req.workspace,
            client_id=req.client_id,
            app_type=req.app_type,
            entry_point=req.entry_point,
            logs=logs,
            metadata=req.manifest,
        )
        self.sessions.add(session)
        progress.attach(logs)
        session.progress = progress
        self.metrics.starts.inc()
        t0 = time.perf_counter()
        try:
            progress.info(f"Starting {req.app_type} app {req.app_id} ({req.session_id})")
            document, lease = await asyncio.gather(
                build_document(req, self._http, self._entries, self.assets_config),
                self.pool.acquire(self.settings.queue_timeout, req.app_type),
            )
            session.lease = lease
            self._watch(session, lease)
            progress.info("Browser context ready; loading the app")
            await load(lease, document, req.timeout or self.settings.start_timeout)
            session.move_to(SessionStatus.RUNNING)
            self.metrics.start_seconds.observe(time.perf_counter() - t0)
            progress.success(f"App loaded in {(time.perf_counter() - t0) * 1000:.0f} ms")
            return session.id
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            self.metrics.failures.inc()
            await self._fail(session, reason)
            progress.error(f"Failed to start: {reason}")
            if isinstance(exc, WorkerError):
                raise
            raise AppStartError(reason) from exc
        finally:
            session.progress = None
            progress.detach()
            if self._pool is not None:
                self._pool.refill()

    async def _fail(self, session: Session, reason: str) -> None:
        """Mark a session failed (once), close its context and keep its logs."""
        if session.finalizing or not self.sessions.is_live(session.id):
            return
        session.finalizing = True
        session.logs.worker(reason, "error")
        if session.status not in (SessionStatus.FAILED, SessionStatus.STOPPED):
            session.move_to(SessionStatus.FAILED, reason)
        await self._release(session)
        self.sessions.retire(session)

    def _fail_soon(self, session: Session, reason: str, browser: Any = None) -> None:
        """From an event handler: fail the session without blocking the handler.

        With ``browser``, wait a moment first: when Chromium itself dies its pages report a
        crash just before the browser reports the disconnect, and the log should say which."""
        if session.status in (SessionStatus.STARTING, SessionStatus.RUNNING):
            session.move_to(SessionStatus.FAILED, reason)

        async def fail() -> None:
            final = reason
            if browser is not None:
                await asyncio.sleep(0.2)
                if not browser.is_connected():
                    final = BROWSER_LOST
            session.error = final
            await self._fail(session, final)

        task = asyncio.ensure_future(fail())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _browser_lost(self, browser: Any) -> None:
        for session in self.sessions.live_sessions():
            if session.lease is not None and session.lease.browser is browser:
                self._fail_soon(session, BROWSER_LOST)

    async def _release(self, session: Session) -> None:
        lease, session.lease = session.lease, None
        await page_logs.drain(lease)  # the page's last console lines, before its context closes
        if lease is not None and self._pool is not None:
            await self._pool.release(lease, self.settings.stop_timeout)

    async def stop(self, session_id: str, context: dict[str, Any] | None = None) -> None:
        """Stop a session and close its context; stopping an ended session is a no-op."""
        if not self.sessions.is_live(session_id):
            session = self.sessions.any(session_id)  # raises SessionNotFoundError if unknown
            return None
        session = self.sessions.live(session_id)
        if session.finalizing:
            return None
        session.finalizing = True
        session.move_to(SessionStatus.STOPPING)
        session.logs.worker("Session stopping")
        await self._release(session)
        session.move_to(SessionStatus.STOPPED)
        session.logs.worker("Session stopped")
        self.sessions.retire(session)
        return None

    def _watch(self, session: Session, lease: Lease) -> None:
        """Turn the page's console, errors and failed requests into session logs."""
        page_logs.watch_page(
            session, lease, lambda reason, browser: self._fail_soon(session, reason, browser=browser)
        )

    # ----- reading and acting on live sessions ----------------------------------------------

    async def get_logs(
        self,
        session_id: str,
        type: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        session = self.sessions.any(session_id)
        await self._flush_console(session)
        return session.logs.query(type, offset, limit)

    async def _flush_console(self, session: Session) -> None:
        """Pull console lines the page holds but the worker has not read yet, so logs are up to date."""
        if session.lease is not None and session.status in (SessionStatus.STARTING, SessionStatus.RUNNING):
            await page_logs.refresh(session.lease)

    async def get_session_info(self, session_id: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.sessions.any(session_id).info()

    async def list_sessions(self, workspace: str | None = None, context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [
            s.info() for s in self.sessions.live_sessions() if workspace is None or s.workspace == workspace
        ]

    def _page(self, session_id: str) -> Any:
        session = self.sessions.live(session_id)
        if session.lease is None or session.status != SessionStatus.RUNNING:
            raise WorkerError(f"Session {session_id} is {session.status.value}, not running")
        return session.lease.page

    async def execute(self, session_id: str, script: str, context: dict[str, Any] | None = None) -> Any:
        """Evaluate JS in the session's page (an expression or a function) and return its value."""
        return await page_actions.evaluate(self._page(session_id), script)

    async def take_screenshot(
        self,
        session_id: str,
        format: str = "png",
        quality: int | None = None,
        full_page: bool = False,
        clip: dict[str, float] | None = None,
        selector: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> bytes:
        """PNG or JPEG bytes of the page, a region (``clip``) or one element (``selector``)."""
        return await page_actions.screenshot(self._page(session_id), format, quality, full_page, clip, selector)

    # ----- workspace-level ------------------------------------------------------------------

    async def prepare_workspace(self, workspace: str, context: dict[str, Any] | None = None) -> None:
        return None  # contexts are created per session; nothing to prepare

    async def close_workspace(self, workspace: str, context: dict[str, Any] | None = None) -> None:
        for session in self.sessions.live_sessions():
            if session.workspace == workspace:
                await self.stop(session.id)

    async def compile(
        self,
        manifest: dict[str, Any],
        files: list[dict[str, Any]],
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        progress = Progress((config or {}).get("progress_callback") if isinstance(config, dict) else None)
        out_manifest, out_files = await asyncio.to_thread(
            compiler.compile_app, manifest, files, config, progress
        )
        workspace = (config or {}).get("workspace") if isinstance(config, dict) else None
        if workspace:
            entry = next((f for f in out_files if f.get("path") == compiler.ENTRY), None)
            if entry is not None:
                self._entries.put(workspace, out_manifest.get("content_hash"), entry["content"])
        return out_manifest, out_files

    def get_load(self, context: dict[str, Any] | None = None) -> float:
        """Share of session capacity in use (0.0 idle … 1.0 full; above 1 with a queue)."""
        pool = self._pool
        if pool is None:
            return 0.0
        return (pool.in_use + pool.waiting) / pool.capacity
