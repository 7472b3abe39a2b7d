"""The session engine: what runs app sessions once a request has been parsed and authorized.

It owns what a worker runs on (Playwright, the Chromium host, the local assets, the warm pool),
every session's lifetime and its one release path (``end``). It takes typed requests only and
never sees a caller's ``context`` or a raw RPC value: that is the facade's job
(``browser_worker.worker``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Coroutine

from playwright.async_api import Playwright, async_playwright

from browser_worker._api.start import StartRequest
from browser_worker._browser.background import TaskSet
from browser_worker._browser.chromium import ChromiumInfo
from browser_worker._browser.host import BrowserHost
from browser_worker._browser.lease import Lease
from browser_worker._browser.pool import ContextPool
from browser_worker._cache.router import RouteCache
from browser_worker._cache.rules import CacheRule
from browser_worker._cache.store import RouteStore, default_cache_dir
from browser_worker._compile.budget import CompileBudget
from browser_worker._engine import runtime, watch
from browser_worker._engine.artifacts import SessionArtifacts
from browser_worker._engine.capture import Capture
from browser_worker._engine.document import build_document
from browser_worker._engine.entry_cache import EntryCache
from browser_worker._engine.live import LiveView
from browser_worker._engine.loader import load
from browser_worker._engine.observer import StartObserver, Unobserved
from browser_worker._engine.progress import Progress
from browser_worker._engine.startup_script import run_startup_script
from browser_worker._engine.session import Session, SessionRegistry, SessionStatus
from browser_worker._logs.buffer import LogBuffer
from browser_worker._net.policy import NetworkPolicy
from browser_worker._net.urls import origin_of
from browser_worker._python.asset_server import AssetServer
from browser_worker._python.page_assets import PageAssets
from browser_worker._python.snapshot import SnapshotStore
from browser_worker._redact import add_secret, redact
from browser_worker.config import WorkerSettings
from browser_worker.errors import AppStartError, SessionNotFoundError, WorkerError

log = logging.getLogger(__name__)

#: Seconds a drain waits after the last start in flight returned, before it stops sessions.
DRAIN_SETTLE = 1.0

BROWSER_LOST = "Chromium exited unexpectedly; session failed (the worker relaunches it)"


class SessionEngine:
    """Runs sessions on a warm pool of Chromium contexts; one owner per resource."""

    def __init__(self, settings: WorkerSettings, net: NetworkPolicy, budget: CompileBudget,
                 observer: StartObserver | None = None) -> None:
        self.settings = settings
        self.net = net
        self.budget = budget
        self.observer = observer or Unobserved()
        self.sessions = SessionRegistry(settings.log_retention, settings.log_retention_sessions,
                                        settings.retained_log_bytes, settings.retained_artifact_bytes)
        #: Failure screenshots and traces; owns the trace folder.
        self.capture = Capture(settings.trace_max_bytes)
        add_secret(settings.token)  # scrubbed from traces like every session's
        #: Bundles compiled at install, per workspace, filed under the digest we compute.
        self.entries = EntryCache()
        #: Responses of the URLs apps list in ``cache_routes``, per (workspace, app id), on disk.
        self.route_cache = RouteCache(RouteStore(settings.cache_dir or default_cache_dir(), settings.cache_max_bytes,
                                                 settings.cache_max_entry_bytes), net)
        self._playwright: Playwright | None = None
        self._host: BrowserHost | None = None
        self._pool: ContextPool | None = None
        self._assets: AssetServer | None = None
        #: What web-python pages are told about the local assets (None: no assets here).
        self.page_assets: PageAssets | None = None
        #: The snapshot of a booted Pyodide that web-python pages start from (made at open).
        self.snapshot: SnapshotStore | None = None
        self._background = TaskSet("session engine")
        #: Open watches (screencasts) and log streams of running sessions.
        self.live = LiveView(watchers_per_session=settings.max_watchers_per_session,
                             watchers=settings.max_watchers)
        self._reaper: asyncio.Task[None] | None = None
        #: Set by ``drain``: new starts are refused from then on.
        self.draining = False

    # ----- lifetime -------------------------------------------------------------------------

    async def open(self) -> None:
        """Launch Chromium now (not lazily) and fill the warm pool."""
        s = self.settings
        self.capture.open()
        self._playwright = await async_playwright().start()
        try:
            self._host = runtime.browser_host(self._playwright, s)
            await self._host.start()
            self._host.subscribe(on_lost=self._browser_lost)
            local = await runtime.start_local_assets(s, self._host)
            if local is not None:
                self._assets, self.page_assets, self.snapshot = local.server, local.config, local.snapshot
            self._pool = runtime.warm_pool(s, self._host, local, self.net)
            await self._pool.start()
            if s.session_ttl > 0:
                self._reaper = asyncio.create_task(self._reap_expired(s.session_ttl))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop every session, then close the pool, the browser and Playwright."""
        if self._reaper:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        self.capture.closing = True
        results = await asyncio.gather(
            *(self.end(s, SessionStatus.STOPPED, "the worker is shutting down") for s in self.sessions.live_sessions()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):  # keep closing the rest
                log.warning("stopping a session during shutdown failed: %s", result)
        await self._background.wait()
        await self.live.close()
        await self.route_cache.close()
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
        self.sessions.drop_artifacts("the worker closed")
        self.capture.close()

    @property
    def is_open(self) -> bool:
        return self._pool is not None and self._host is not None

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

    def context_count(self) -> int:
        """Browser contexts that exist right now (sessions plus warm ones), counted by Chromium."""
        return sum(len(b.contexts) for b in self._host.browsers()) if self._host else 0

    def load(self) -> float:
        """Share of session capacity in use (0.0 idle … 1.0 full; above 1 with a queue)."""
        pool = self._pool
        if pool is None:
            return 0.0
        return (pool.in_use + pool.waiting) / pool.capacity

    async def drain(self, timeout: float) -> None:
        """Refuse new starts, give starts in flight up to ``timeout`` s to finish (those still
        starting then fail, saying why), then stop every session. What SIGTERM does."""
        self.draining = True
        deadline = time.monotonic() + timeout
        starting = [s.start_task for s in self.sessions.live_sessions()
                    if s.start_task is not None and not s.start_task.done()]
        if starting:
            log.info("draining: waiting up to %gs for %d start(s) in flight", timeout, len(starting))
            await asyncio.wait(starting, timeout=timeout)
            # A start that returned is finished for the caller only once the server has seen
            # the app's service (it waits for that event): give it a moment before stopping.
            await asyncio.sleep(max(0.0, min(DRAIN_SETTLE, deadline - time.monotonic())))
        await asyncio.gather(
            *(self.end(s, SessionStatus.STOPPED, "the worker is shutting down") for s in self.sessions.live_sessions()),
            return_exceptions=True,
        )

    def find(self, session_id: str) -> Session | None:
        """The live or retained session ``session_id``, if any."""
        try:
            return self.sessions.any(session_id)
        except SessionNotFoundError:
            return None

    # ----- starting -------------------------------------------------------------------------

    async def start(self, req: StartRequest) -> str:
        """Start a session; return its id once the page loaded and the app code ran.

        From here on the session owns whatever the start acquires and ``end`` is its only
        release path."""
        if self.draining:
            raise WorkerError("worker is shutting down (draining): no new sessions; "
                              "start the app again to get another worker")
        cache_rule = self.route_cache.rule_for(req.manifest, req.app_type)  # a bad rule fails here
        add_secret(req.token)
        s = self.settings
        logs = LogBuffer(s.max_log_entries, [req.token] if req.token else [], max_bytes=s.max_log_bytes,
                         max_entry_bytes=s.max_log_entry_bytes)
        session = Session(
            id=req.session_id, app_id=req.app_id, workspace=req.workspace, client_id=req.client_id,
            app_type=req.app_type, page_type=req.page_type, entry_point=req.entry_point, logs=logs,
            metadata=req.manifest,
            token=req.token, artifacts=SessionArtifacts(trace_mode=req.trace),
        )
        self.sessions.add(session)
        progress = Progress(req.progress_callback, coalesce=s.progress_coalesce)
        progress.attach(logs)
        session.progress = progress
        self.observer.start_requested()
        task = asyncio.create_task(self._run_start(session, req, progress, cache_rule), name=f"start {session.id}")
        session.start_task = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # our own caller gave up
                await asyncio.shield(self.end(session, SessionStatus.STOPPED, "the start was cancelled by its caller"))
                raise
            reason = session.error or "stopped while starting"
            raise AppStartError(f"Session {session.id} did not start: {reason}") from None
        finally:
            session.progress = None
            progress.flush()
            progress.detach()
            if self._pool is not None:
                self._pool.refill()

    async def _run_start(self, session: Session, req: StartRequest, progress: Progress,
                         cache_rule: CacheRule | None = None) -> str:
        t0 = time.perf_counter()
        progress.info(f"Starting {req.app_type} app {req.app_id} ({req.session_id})")
        for note in req.notes:
            progress.warning(note)
        # Build the document while waiting for a context; the lease belongs to the session as
        # soon as the pool hands it out, so every exit below releases it through end().
        doc_task = asyncio.ensure_future(build_document(req, self.net, self.entries, self.page_assets, self.budget))
        fresh = runtime.fresh_context_options(self.settings, req.viewport, req.device_scale_factor,
                                              req.context_settings)
        lease_task = asyncio.ensure_future(self.pool.acquire(self.settings.queue_timeout, req.page_type, fresh))

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
            watch.watch_page(session, lease, lambda reason, browser: self._fail_soon(session, reason, browser))
            await self.capture.begin(session, lease)
            progress.info("Browser context ready; loading the app")
            if cache_rule and req.content_hash:
                adopted = await self.route_cache.adopt_install(req.workspace, req.content_hash, req.app_id)
                if adopted:
                    session.logs.worker(f"Route cache: {adopted} response(s) cached when the app was installed")
            cached = cache_rule and await self.route_cache.attach(
                lease.context, req.workspace, req.app_id, cache_rule,
                [origin_of(self.page_assets.url)] if self.page_assets else ())
            await load(lease, document, req.timeout)
            await run_startup_script(req, lease.page, self.net, progress, time.monotonic() + req.timeout)
            if cached and (cached.hits or cached.fetched):
                session.logs.worker(f"Route cache: {cached.hits} response(s) from disk, {cached.fetched} "
                                    f"fetched, {cached.stored} stored while loading")
            session.move_to(SessionStatus.RUNNING)
            elapsed = time.perf_counter() - t0
            self.observer.start_finished(elapsed)
            progress.success(f"App loaded in {elapsed * 1000:.0f} ms")
            return session.id
        except asyncio.CancelledError:
            raise  # whoever cancelled the start ends the session
        except Exception as exc:
            reason = redact(str(exc) or type(exc).__name__)
            self.observer.start_failed()
            progress.error(f"Failed to start: {reason}")
            await self.end(session, SessionStatus.FAILED, reason)
            error = exc if isinstance(exc, WorkerError) else AppStartError(reason)
            error.args = (reason,)
            raise error from None

    # ----- ending: the one release path -----------------------------------------------------

    async def end(self, session: Session, status: SessionStatus, reason: str | None = None) -> None:
        """The one way a session ends (stop, failure, crash, TTL, shutdown): cancel its start if
        it is still running, close its context, free its slot, and keep its logs."""
        if session.ending is not None:
            await asyncio.shield(session.ending)
            return
        session.ending = asyncio.get_running_loop().create_future()
        try:
            await self.live.session_ended(session.id)  # its screencast stops before its page closes
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
            if session.lease is not None:  # end() itself was interrupted: release in the background
                self._spawn(self._release(session))
            self.sessions.retire(session)
            session.ending.set_result(None)
            session.logs.wake()  # log streams see the end now

    async def _release(self, session: Session) -> None:
        lease, session.lease = session.lease, None
        try:
            if lease is not None and lease.browser.is_connected():
                await watch.drain(lease)  # the page's last console lines, before its context closes
                await self.capture.finish(session, lease)  # screenshot, trace: short deadlines
            elif lease is not None:
                if lease.console_pump is not None:
                    lease.console_pump.stop()  # the browser is gone: nothing left to read
                self.capture.browser_gone(session)
        finally:  # even if the capture was interrupted, the context closes and the slot frees
            session.artifacts.settled = True
            if lease is not None and self._pool is not None:
                await self._pool.release(lease, self.settings.stop_timeout)

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
            await self.end(session, SessionStatus.FAILED, final)

        self._spawn(fail())

    def _browser_lost(self, browser: Any) -> None:
        """Chromium died: end its sessions now, not after the page-crash grace period.

        Hypha's controller calls ``stop`` as soon as an app's client disconnects, and until that
        returns it hands the dead instance to every new start of the app (issue 20); so the
        sessions must already be ended, and their release must not wait on the dead browser."""
        for session in self.sessions.live_sessions():
            if session.lease is not None and session.lease.browser is browser:
                self._spawn(self.end(session, SessionStatus.FAILED, BROWSER_LOST))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background, owned by the engine (``close`` waits for it)."""
        self._background.spawn(coro)

    async def _reap_expired(self, ttl: float) -> None:
        """Stop sessions older than ``--session-ttl`` seconds."""
        while True:
            await asyncio.sleep(min(5.0, max(0.2, ttl / 4)))
            now = time.monotonic()
            for session in self.sessions.live_sessions():
                if session.status is SessionStatus.RUNNING and now - session.started > ttl:
                    session.logs.worker(f"Session lived longer than --session-ttl={ttl:g}s; stopping", "warning")
                    try:
                        await self.end(session, SessionStatus.STOPPED, "session TTL reached")
                    except Exception as exc:
                        log.warning("stopping expired session %s failed: %s", session.id, exc)
