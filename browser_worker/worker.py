"""BrowserWorker: the Python API that runs app sessions in a warm pool of Chromium contexts.

Usable on its own (``async with BrowserWorker(settings) as worker``) or behind the Hypha
service in ``service.py``. Data flows one way: start config → document → pooled page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Mapping

from playwright.async_api import Playwright, async_playwright

from . import page_logs, runtime
from .actions import SessionActions
from .surface import WorkerSurface
from .budget import CompileBudget
from .cache import EntryCache
from .asset_server import AssetServer
from .browser_host import BrowserHost
from .chromium import ChromiumInfo
from .config import WorkerSettings
from .errors import AppStartError, SessionNotFoundError, WorkerError
from .launch import build_document
from .loader import load
from .logs import LogBuffer
from .metrics import WorkerMetrics
from .pool import ContextPool, Lease, origin_of
from .pyodide_snapshot import SnapshotStore
from .progress import Progress
from .netpolicy import NetworkPolicy
from .policy import Caller, authorize, caller_from
from .redact import add_secret, redact
from .requests import Limits, StartRequest, parse_session_id, parse_start
from .session import Session, SessionRegistry, SessionStatus

log = logging.getLogger(__name__)

#: Seconds a start's progress messages are held and joined before the caller's callback gets
#: them: each call is two messages through the Hypha server (see progress.py).
PROGRESS_COALESCE = 0.5

BROWSER_LOST = "Chromium exited unexpectedly; session failed (the worker relaunches it)"
CONSOLE_TYPES = {"warning": "warn", "assert": "error", "trace": "debug", "dir": "log", "table": "log"}


class BrowserWorker(SessionActions, WorkerSurface):
    """Runs Hypha browser apps; one isolated context per session."""

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
        self._assets: AssetServer | None = None
        self.assets_config: dict[str, Any] | None = None
        #: The snapshot of a booted Pyodide that web-python pages start from (made at open).
        self.snapshot: SnapshotStore | None = None
        self._entries = EntryCache()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self.metrics = WorkerMetrics(self)
        s = self.settings
        self.limits = Limits(
            default_start_timeout=s.start_timeout, max_start_timeout=s.max_start_timeout,
            default_execute_timeout=s.execute_timeout, max_execute_timeout=s.max_execute_timeout,
            screenshot_timeout=s.screenshot_timeout,
        )
        self.net = NetworkPolicy(
            allow_private=s.allow_private_network, allow_hosts=s.allowed_hosts,
            allow_file_urls=s.allow_file_urls,
            trusted_origins=(origin_of(s.server_url),) if s.server_url else (),
        )
        self.budget = CompileBudget(
            max_files=s.compile_max_files, max_asset_bytes=s.compile_max_asset_bytes,
            max_bundle_bytes=s.compile_max_bundle_bytes, timeout=s.compile_timeout,
        )
        #: True: the server hands us its local URLs (same host); a URL string: that server.
        self.use_local_url: bool | str = True
        #: The workspace the worker's service is registered in (set by ``registered``).
        self.owner_workspace: str | None = None
        self.shutdown_requested = asyncio.Event()

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
            self._host = runtime.browser_host(self._playwright, s)
            await self._host.start()
            self._host.subscribe(on_lost=self._browser_lost)
            local = await runtime.start_local_assets(s, self._host)
            if local is not None:
                self._assets, self.assets_config, self.snapshot = local.server, local.config, local.snapshot
            self._pool = runtime.warm_pool(s, self._host, local)
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
        results = await asyncio.gather(
            *(self._end(s, SessionStatus.STOPPED, "the worker is shutting down") for s in self.sessions.live_sessions()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):  # keep closing the rest
                log.warning("stopping a session during shutdown failed: %s", result)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.snapshot is not None:
            await self.snapshot.close()
        if self._pool:
            await self._pool.close()
        if self._host:
            await self._host.close()
        if self._assets:
            await self._assets.close()
            self._assets = None
        if self._playwright:
            await self._playwright.stop()
        self._pool = self._host = self._playwright = None

    async def initialize(self) -> None:
        """Hypha's name for :meth:`open` (its workers are set up with ``initialize()``)."""
        await self.open()

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
                        await self._end(session, SessionStatus.STOPPED, "session TTL reached")
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

    def _caller(self, context: Mapping[str, Any] | None) -> Caller:
        return caller_from(context, self.owner_workspace)

    async def start(self, config: Any, context: dict[str, Any] | None = None) -> str:
        """Start an app session; return its id once the page loaded and the app code ran.

        The config is parsed and authorized before anything is allocated; from then on the
        session owns whatever the start acquires and ``_end`` is its only release path."""
        caller = self._caller(context)
        workspace = authorize("start", caller, None)
        req = parse_start(config, workspace=None if caller.privileged else workspace,
                          limits=self.limits, net=self.net)
        add_secret(req.token)
        logs = LogBuffer(self.settings.max_log_entries, [req.token] if req.token else [],
                         max_bytes=self.settings.max_log_bytes,
                         max_entry_bytes=self.settings.max_log_entry_bytes)
        session = Session(
            id=req.session_id, app_id=req.app_id, workspace=req.workspace, client_id=req.client_id,
            app_type=req.app_type, entry_point=req.entry_point, logs=logs, metadata=req.manifest,
        )
        self.sessions.add(session)
        progress = Progress(req.progress_callback, coalesce=PROGRESS_COALESCE)
        progress.attach(logs)
        session.progress = progress
        self.metrics.starts.inc()
        task = asyncio.create_task(self._run_start(session, req, progress), name=f"start {session.id}")
        session.start_task = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # our own caller gave up
                await asyncio.shield(self._end(session, SessionStatus.STOPPED, "the start was cancelled by its caller"))
                raise
            reason = session.error or "stopped while starting"
            raise AppStartError(f"Session {session.id} did not start: {reason}") from None
        finally:
            session.progress = None
            progress.flush()
            progress.detach()
            if self._pool is not None:
                self._pool.refill()

    async def _run_start(self, session: Session, req: StartRequest, progress: Progress) -> str:
        t0 = time.perf_counter()
        progress.info(f"Starting {req.app_type} app {req.app_id} ({req.session_id})")
        # Build the document while waiting for a context; the lease belongs to the session as
        # soon as the pool hands it out, so every exit below releases it through _end.
        doc_task = asyncio.ensure_future(build_document(req, self.net, self._entries, self.assets_config, self.budget))
        lease_task = asyncio.ensure_future(self.pool.acquire(self.settings.queue_timeout, req.app_type))

        def own(task: asyncio.Future[Lease]) -> None:
            if not task.cancelled() and task.exception() is None:
                session.lease = task.result()

        lease_task.add_done_callback(own)
        try:
            try:
                await asyncio.wait({doc_task, lease_task}, return_when=asyncio.FIRST_EXCEPTION)
                document = await doc_task
                lease = await lease_task
            finally:
                for task in (doc_task, lease_task):
                    task.cancel()
                await asyncio.gather(doc_task, lease_task, return_exceptions=True)
            self._watch(session, lease)
            progress.info("Browser context ready; loading the app")
            await load(lease, document, req.timeout)
            session.move_to(SessionStatus.RUNNING)
            self.metrics.start_seconds.observe(time.perf_counter() - t0)
            progress.success(f"App loaded in {(time.perf_counter() - t0) * 1000:.0f} ms")
            return session.id
        except asyncio.CancelledError:
            raise  # whoever cancelled the start ends the session
        except Exception as exc:
            reason = redact(str(exc) or type(exc).__name__)
            self.metrics.failures.inc()
            progress.error(f"Failed to start: {reason}")
            await self._end(session, SessionStatus.FAILED, reason)
            error = exc if isinstance(exc, WorkerError) else AppStartError(reason)
            error.args = (reason,)
            raise error from None

    async def _end(self, session: Session, status: SessionStatus, reason: str | None = None) -> None:
        """The one way a session ends (stop, failure, crash, TTL, shutdown): cancel its start if
        it is still running, close its context, free its slot, and keep its logs."""
        if session.ending is not None:
            await asyncio.shield(session.ending)
            return
        session.ending = asyncio.get_running_loop().create_future()
        try:
            task = session.start_task
            if task is not None and not task.done() and task is not asyncio.current_task():
                if reason and session.error is None:
                    session.error = reason
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            if status is SessionStatus.FAILED:
                session.logs.worker(reason or "session failed", "error")
                if session.status is not SessionStatus.FAILED:
                    session.move_to(SessionStatus.FAILED, reason)
            else:
                session.logs.worker("Session stopping" + (f" ({reason})" if reason else ""))
                session.move_to(SessionStatus.STOPPING)
            await self._release(session)
            if status is not SessionStatus.FAILED:
                session.move_to(SessionStatus.STOPPED)
                session.logs.worker("Session stopped")
        finally:
            self._release_now(session)
            self.sessions.retire(session)
            session.ending.set_result(None)

    def _fail_soon(self, session: Session, reason: str, browser: Any = None) -> None:
        """From an event handler: fail the session without blocking the handler.

        With ``browser``, wait a moment first: when Chromium itself dies its pages report a
        crash just before the browser reports the disconnect, and the log should say which."""
        if session.ending is not None:
            return

        async def fail() -> None:
            final = reason
            if browser is not None:
                await asyncio.sleep(0.2)
                if not browser.is_connected():
                    final = BROWSER_LOST
            await self._end(session, SessionStatus.FAILED, final)

        self._spawn(fail())

    def _browser_lost(self, browser: Any) -> None:
        """Chromium died: end its sessions now, not after the page-crash grace period.

        Hypha's controller calls ``stop`` as soon as an app's client disconnects, and until that
        returns it hands the dead instance to every new start of the app (issue 20); so the
        sessions must already be ended, and their release must not wait on the dead browser."""
        for session in self.sessions.live_sessions():
            if session.lease is not None and session.lease.browser is browser:
                self._spawn(self._end(session, SessionStatus.FAILED, BROWSER_LOST))

    def _spawn(self, coro: Any) -> None:
        """Run ``coro`` in the background, owned by the worker (``close`` waits for it)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, session: Session) -> None:
        lease, session.lease = session.lease, None
        if lease is not None and lease.browser.is_connected():
            await page_logs.drain(lease)  # the page's last console lines, before its context closes
        elif lease is not None and lease.console_pump is not None:
            lease.console_pump.stop()  # the browser is gone: nothing left to read
        if lease is not None and self._pool is not None:
            await self._pool.release(lease, self.settings.stop_timeout)

    def _release_now(self, session: Session) -> None:
        """Last resort when ``_end`` itself is interrupted: release in the background."""
        if session.lease is not None:
            self._spawn(self._release(session))

    async def stop(self, session_id: Any, context: dict[str, Any] | None = None) -> None:
        """Stop a session (a start in flight or queued is cancelled). Unknown or ended ids are
        a quiet no-op, as in the Worker API: a restarted worker must not block cleanup."""
        caller = self._caller(context)
        session_id = parse_session_id(session_id)
        session = self._find(session_id)
        if session is None:
            authorize("stop", caller, None)
            return None
        authorize("stop", caller, session.workspace)
        if self.sessions.is_live(session_id):
            await self._end(session, SessionStatus.STOPPED)
        return None

    def _find(self, session_id: str) -> Session | None:
        try:
            return self.sessions.any(session_id)
        except SessionNotFoundError:
            return None

    def _authorized_session(self, method: str, session_id: Any, context: Mapping[str, Any] | None) -> Session:
        """The session ``session_id`` names, if the caller may use ``method`` on it."""
        caller = self._caller(context)
        session_id = parse_session_id(session_id)
        session = self._find(session_id)
        if session is None:
            authorize(method, caller, None)
            raise SessionNotFoundError(session_id)
        authorize(method, caller, session.workspace)
        return session

    def _watch(self, session: Session, lease: Lease) -> None:
        """Turn the page's console, errors and failed requests into session logs."""
        page_logs.watch_page(
            session, lease, lambda reason, browser: self._fail_soon(session, reason, browser=browser)
        )

    def get_load(self, context: dict[str, Any] | None = None) -> float:
        """Share of session capacity in use (0.0 idle … 1.0 full; above 1 with a queue)."""
        pool = self._pool
        if pool is None:
            return 0.0
        return (pool.in_use + pool.waiting) / pool.capacity

    async def shutdown(self, context: dict[str, Any] | None = None) -> None:
        """Ask the serving process to stop every session and exit (owner or admin only).
        Called from Python (no ``context``), also close the worker now, as Hypha's does."""
        authorize("shutdown", self._caller(context), None)
        self.shutdown_requested.set()
        if context is None:
            await self.close()
