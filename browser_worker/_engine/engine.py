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
from typing import Any, AsyncIterator, Callable, Coroutine

from playwright.async_api import Playwright, async_playwright

from browser_worker._aio import TaskSet
from browser_worker._browser import BrowserHost, ChromiumInfo, ContextPool, Lease
from browser_worker._compile import ENTRY, CompileBudget, compile_app
from browser_worker._door import (
    CONNECTS_TO_HYPHA, CompileRequest, ExecuteRequest, LogsQuery, PdfRequest, ScreenshotRequest, StartRequest,
    WatchRequest, canonical_type,
)
from browser_worker._engine import assembly
from browser_worker._engine.control import SessionControl
from browser_worker._engine.downloads import DownloadKeeper
from browser_worker._engine.reconnect import PageReconnector
from browser_worker._live import LiveView
from browser_worker._logs import LogBuffer, Progress
from browser_worker._net import NetworkPolicy, ServerInstances, origin_of
from browser_worker._page import evaluate, follow_page, pdf, read_console, screenshot
from browser_worker._postmortem import Capture
from browser_worker._pyodide import AssetServer, PageAssets, SnapshotStore
from browser_worker._redact import add_secret, redact, redact_value
from browser_worker._route_cache import CacheRule, RouteCache, RouteStore, default_cache_dir, prefill
from browser_worker._session import (
    Session, SessionArtifacts, SessionRegistry, SessionStatus, StartObserver, Unobserved, WorkerStats,
)
from browser_worker._start import EntryCache, build_document, load, run_startup_script
from browser_worker.config import WorkerSettings
from browser_worker.errors import AppStartError, PageStuckError, SessionNotFoundError, WorkerError

log = logging.getLogger(__name__)

#: Seconds a drain waits after the last start in flight returned, before it stops sessions.
DRAIN_SETTLE = 1.0

BROWSER_LOST = "Chromium exited unexpectedly; session failed (the worker relaunches it)"


class SessionEngine:
    """Runs sessions on a warm pool of Chromium contexts; one owner per resource."""

    def __init__(self, settings: WorkerSettings, observer: StartObserver | None = None) -> None:
        s = settings
        self.settings = s
        #: What pages and server-side fetches may reach.
        self.net = NetworkPolicy(
            allow_private=s.allow_private_network, allow_hosts=s.allowed_hosts,
            allow_file_urls=s.allow_file_urls,
            trusted_origins=(origin_of(s.server_url),) if s.server_url else (),
        )
        self.budget = CompileBudget(
            max_files=s.compile_max_files, max_asset_bytes=s.compile_max_asset_bytes,
            max_bundle_bytes=s.compile_max_bundle_bytes, timeout=s.compile_timeout,
        )
        #: The Hypha server instances pages may connect to (several on one Redis: ``_net.instances``).
        self.instances = ServerInstances(s.server_url)
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
                                                 settings.cache_max_entry_bytes), self.net)
        self._playwright: Playwright | None = None
        self._host: BrowserHost | None = None
        self._pool: ContextPool | None = None
        self._assets: AssetServer | None = None
        #: What web-python pages are told about the local assets (None: no assets here).
        self.page_assets: PageAssets | None = None
        #: The snapshot of a booted Pyodide that web-python pages start from (made at open).
        self.pyodide_snapshot: SnapshotStore | None = None
        self._background = TaskSet("session engine")
        #: Open watches (screencasts) and log streams of running sessions.
        self.live = LiveView(watchers_per_session=settings.max_watchers_per_session,
                             watchers=settings.max_watchers)
        self._reaper: asyncio.Task[None] | None = None
        #: What sessions' pages download (sessions with ``downloads`` on).
        self.downloads = DownloadKeeper(settings, lambda: (*self.sessions.active_sessions(),
                                                           *self.sessions.ended_sessions()))
        #: Snapshots, ``act`` and a person's input, under each session's control lease.
        self.control = SessionControl(settings.control_idle_timeout, self._navigable)
        #: Asks app pages to end their reconnection back-off once the Hypha server is back.
        self.reconnector = PageReconnector(self._connected_sessions, within=settings.session_reconnect_grace)
        #: Set by ``drain``: new starts are refused from then on.
        self.draining = False

    # ----- lifetime -------------------------------------------------------------------------

    async def open(self) -> None:
        """Launch Chromium now (not lazily) and fill the warm pool."""
        s = self.settings
        self.capture.open()
        self.downloads.open()
        self._playwright = await async_playwright().start()
        try:
            self._host = assembly.browser_host(self._playwright, s)
            await self._host.start()
            self._host.subscribe(on_lost=self._browser_lost)
            local = await assembly.start_local_assets(s, self._host)
            if local is not None:
                self._assets, self.page_assets, self.pyodide_snapshot = local.server, local.config, local.snapshot
            self._pool = assembly.warm_pool(s, self._host, local, self.net)
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
        await self.reconnector.close()
        self.capture.closing = True
        results = await asyncio.gather(
            *(self.end(s, SessionStatus.STOPPED, "the worker is shutting down") for s in self.sessions.active_sessions()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):  # keep closing the rest
                log.warning("stopping a session during shutdown failed: %s", result)
        await self._background.wait()
        await self.live.close()
        await self.route_cache.close()
        if self.pyodide_snapshot is not None:
            await self.pyodide_snapshot.close()
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
        self.downloads.close()

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
        starting = [s.start_task for s in self.sessions.active_sessions()
                    if s.start_task is not None and not s.start_task.done()]
        if starting:
            log.info("draining: waiting up to %gs for %d start(s) in flight", timeout, len(starting))
            await asyncio.wait(starting, timeout=timeout)
            # A start that returned is finished for the caller only once the server has seen
            # the app's service (it waits for that event): give it a moment before stopping.
            await asyncio.sleep(max(0.0, min(DRAIN_SETTLE, deadline - time.monotonic())))
        await asyncio.gather(
            *(self.end(s, SessionStatus.STOPPED, "the worker is shutting down") for s in self.sessions.active_sessions()),
            return_exceptions=True,
        )

    def find(self, session_id: str) -> Session | None:
        """The live or retained session ``session_id``, if any."""
        try:
            return self.sessions.any(session_id)
        except SessionNotFoundError:
            return None

    # ----- starting -------------------------------------------------------------------------

    async def start(self, req: StartRequest,
                    reroute: Callable[[str, str], StartRequest] | None = None) -> str:
        """Start a session; return its id once the page loaded and the app code ran.

        ``reroute(server_url, note)`` (given for the app controller, which names its own
        instance as ``server_url``) parses the request again for another instance when the page
        cannot reach the one named. From here on the session owns whatever the start acquires
        and ``end`` is its only release path."""
        if reroute is not None and req.server_url:
            req = await self._to_instance(req, reroute)
        if self.draining:
            raise WorkerError("worker is shutting down (draining): no new sessions; "
                              "start the app again to get another worker")
        self.pool  # noqa: B018 (a worker that is not open says so before a session exists)
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
        # Everything that can fail at once fails before either task exists: no task is orphaned.
        pool = self.pool
        fresh = assembly.fresh_context_options(self.settings, req.viewport, req.device_scale_factor,
                                              req.context_settings)
        doc_task = asyncio.ensure_future(build_document(req, self.net, self.entries, self.page_assets, self.budget))
        lease_task = asyncio.ensure_future(pool.acquire(self.settings.queue_timeout, req.page_type, fresh))

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
            session.downloads.enabled = bool(req.context_settings.get("accept_downloads"))
            follow_page(session, lease, lambda reason, browser: self._fail_soon(session, reason, browser),
                        on_download=lambda download: self._spawn(
                            self.downloads.keep(session, download, self.downloads.number(session))))
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
                await read_console(lease, last=True)  # the page's last console lines, before its context closes
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
        for session in self.sessions.active_sessions():
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
            for session in self.sessions.active_sessions():
                if session.status is SessionStatus.RUNNING and now - session.started > ttl:
                    session.logs.worker(f"Session lived longer than --session-ttl={ttl:g}s; stopping", "warning")
                    try:
                        await self.end(session, SessionStatus.STOPPED, "session TTL reached")
                    except Exception as exc:
                        log.warning("stopping expired session %s failed: %s", session.id, exc)

    async def _navigable(self, url: str) -> str:
        """``url`` if an ``act`` step may navigate there (the worker's own fetch rules)."""
        await self.net.check_fetch_url(url, "navigate.url")
        return url

    # ----- routing to the Hypha instance a page can reach ---------------------------------------

    async def _to_instance(self, req: StartRequest, reroute: Callable[[str, str], StartRequest]) -> StartRequest:
        """The app controller names its own instance as ``server_url``; the page connects there
        if it is an instance of this worker's deployment this worker can reach, else to the
        worker's own server (``_net.instances``)."""
        assert req.server_url
        route = await self.instances.route(req.server_url)
        if route.reason is None:
            if route.server_url != self.instances.home:
                self.net.trust_instance(route.server_url)
            return req
        log.warning("%s: %s", req.session_id, route.reason)
        return reroute(route.server_url, route.reason)

    async def connected(self, public_base_url: Any, local_base_url: Any) -> None:
        """Learn the deployment from the worker's connection: its public URL (which other
        instances must share), and the local URL of the instance it reached, which its
        controller hands pages; warm pages go there when this worker can reach it."""
        self.instances.connected(public_base_url)
        if not isinstance(local_base_url, str) or not local_base_url.startswith(("http://", "https://")):
            return
        route = await self.instances.route(local_base_url.rstrip("/"))
        if route.reason is None and self.is_open:
            self.net.trust_instance(route.server_url)
            self.pool.retarget(route.server_url)

    # ----- what a caller does with a session (the facade has authorized it) -------------------

    async def stop(self, session: Session) -> None:
        """Stop ``session`` if it has not ended (a start in flight or queued is cancelled)."""
        if self.sessions.is_active(session.id):
            await self.end(session, SessionStatus.STOPPED)

    async def close_workspace(self, workspace: str) -> None:
        """Stop every session of ``workspace`` (starting ones included)."""
        sessions = [s for s in self.sessions.active_sessions() if s.workspace == workspace]
        await asyncio.gather(*(self.end(s, SessionStatus.STOPPED, "workspace closed") for s in sessions))

    def session_infos(self, workspace: str | None) -> list[dict[str, Any]]:
        """What ``list_sessions`` shows: the active sessions of ``workspace`` (None: all)."""
        return [redact_value(s.info()) for s in self.sessions.active_sessions()
                if workspace is None or s.workspace == workspace]

    async def logs(self, session: Session, query: LogsQuery) -> dict[str, Any]:
        """A page of the session's logs, with the lines its page holds but we have not read."""
        if session.lease is not None and session.status in (SessionStatus.STARTING, SessionStatus.RUNNING):
            await read_console(session.lease)
        return session.logs.query(query.type, query.offset, query.limit)

    async def artifact(self, session: Session, kind: str) -> dict[str, Any]:
        """What the session kept when it ended (failure screenshot or trace)."""
        return await asyncio.to_thread(session.artifacts.reply, kind, session.id, session.status.value)

    async def evaluate(self, session: Session, req: ExecuteRequest) -> Any:
        """Run a trusted caller's script in the page; a page that does not answer marks the
        session stuck (once in its logs) until it answers again."""
        page = session.running_lease().page
        try:
            result = await evaluate(page, req.script, req.timeout)
        except PageStuckError as exc:
            if not session.stuck:
                session.stuck = True
                session.logs.worker(str(exc), "error")
            raise
        session.stuck = False
        return result

    async def screenshot(self, session: Session, req: ScreenshotRequest) -> bytes:
        return await screenshot(session.running_lease().page, req)

    async def pdf(self, session: Session, req: PdfRequest) -> bytes:
        return await pdf(session.running_lease().page, req)

    def watch(self, session: Session, req: WatchRequest) -> AsyncIterator[dict[str, Any]]:
        return self.live.watch(session, session.running_lease().page, req)

    def stream_logs(self, session: Session, position: int) -> AsyncIterator[dict[str, Any]]:
        return self.live.stream_logs(session, position)

    # ----- install ------------------------------------------------------------------------

    async def install(self, req: CompileRequest, workspace: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Compile the app's bundle; keep it for starts in ``workspace`` and fill the route cache
        with what the bundle loads from the routes its manifest names."""
        progress = Progress(req.progress_callback)
        out_manifest, out_files = await asyncio.to_thread(
            compile_app, req.manifest, req.files, req.compiler_config(), progress,
            policy=self.net, budget=self.budget,
        )
        entry = next((f for f in out_files if f.get("path") == ENTRY), None)
        html = entry.get("content") if entry is not None else None
        if workspace and isinstance(html, str):
            self.entries.put(workspace, html)
            rule = self.route_cache.rule_for(out_manifest, canonical_type(out_manifest.get("type")))
            content_hash = out_manifest.get("content_hash")
            if rule is not None and isinstance(content_hash, str):
                await prefill(self.route_cache.store, self.net, workspace, content_hash, html, rule, progress)
        return out_manifest, out_files

    async def clear_route_cache(self, workspace: str, app_id: str) -> int:
        """Delete one app's route cache; the number of entries deleted."""
        return await self.route_cache.clear(workspace, app_id)

    async def route_cache_stats(self, workspace: str, app_id: str) -> dict[str, Any]:
        return await self.route_cache.stats(workspace, app_id)

    # ----- reading the engine -------------------------------------------------------------

    def stats(self) -> WorkerStats:
        """A snapshot of counts, for metrics, health and tests."""
        active = self.sessions.active_sessions()
        by_status: dict[str, int] = {}
        for s in active:
            by_status[s.status.value] = by_status.get(s.status.value, 0) + 1
        pool, host = self._pool, self._host
        kinds = ("window", "web-python")
        kept = [f for x in (*active, *self.sessions.ended_sessions()) for f in x.downloads.files.values()]
        return WorkerStats(
            is_open=self.is_open, browser_up=bool(self.is_open and host is not None and host.alive),
            active=tuple(s.id for s in active), by_status=by_status,
            ended=len(self.sessions.ended_sessions()),
            retained_log_bytes=self.sessions.retained_bytes(),
            retained_artifact_bytes=self.sessions.retained_artifact_bytes(),
            capacity=self.settings.max_sessions,
            in_use=pool.in_use if pool else 0, queue_length=pool.waiting if pool else 0,
            warm=pool.idle if pool else 0,
            warm_by_type={k: pool.idle_of(k) for k in kinds} if pool else {},
            warm_target={k: pool.target(k) for k in kinds} if pool else {},
            contexts=self.context_count(),
            browser_restarts=host.restarts if host else 0, browser_recycles=host.recycles if host else 0,
            downloads=len(kept), download_bytes=sum(f.size for f in kept),
            screencasts=self.live.active_screencasts, watchers=self.live.watches.count,
            log_streams=self.live.log_streams.count,
        )

    # ----- after a Hypha server restart ---------------------------------------------------

    def _connected_sessions(self) -> list[Session]:
        """Running sessions whose page connects to Hypha itself (window, web-worker, web-python)."""
        return [s for s in self.sessions.active_sessions()
                if s.status is SessionStatus.RUNNING and (s.page_type or s.app_type) in CONNECTS_TO_HYPHA]

    def sessions_to_reconnect(self) -> list[str]:
        return [s.id for s in self._connected_sessions()]

    async def page_answers(self) -> dict[str, str]:
        return await self.reconnector.wait()

    def reconnect_pages(self) -> None:
        """The Hypha server is back: have every app page reconnect now (``PageReconnector``)."""
        self.reconnector.now()

    def is_running(self, session_id: str) -> bool:
        session = self.find(session_id)
        return session is not None and session.status is SessionStatus.RUNNING

    async def end_lost(self, session_id: str, reason: str) -> bool:
        """Fail a running session whose page did not come back; False if it is not running."""
        session = self.find(session_id)
        if session is None or session.status is not SessionStatus.RUNNING:
            return False
        await self.end(session, SessionStatus.FAILED, reason)
        return True
