"""BrowserWorker: the Python API and the face a Hypha server sees.

Usable on its own (``async with BrowserWorker(settings) as worker``) or registered on a Hypha
server (``browser_worker.hypha``). Every public method does the same three things: parse its
arguments into a typed request (``_api.calls``), authorize the caller by its ``context``
(``_api.policy``), then hand the request to the :class:`~browser_worker._engine.engine.SessionEngine`,
which never sees a raw RPC value. The class attributes are those of Hypha's ``BaseWorker``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Mapping

from browser_worker._api.apptypes import SUPPORTED_TYPES, canonical_type
from browser_worker._api.calls import Limits, parse_session_id
from browser_worker._api.start import StartRequest, parse_start, reroute_start
from browser_worker._api.compile import parse_compile
from browser_worker._api.policy import Caller, Role, authorize, caller_from, check_name
from browser_worker._browser.chromium import ChromiumInfo
from browser_worker._browser.host import BrowserHost
from browser_worker._browser.pool import ContextPool
from browser_worker._net.urls import origin_of
from browser_worker._cache.prefill import prefill
from browser_worker._cache.rules import check_app_id
from browser_worker._compile import compiler
from browser_worker._compile.budget import CompileBudget
from browser_worker._engine.engine import SessionEngine
from browser_worker._engine.progress import Progress
from browser_worker._engine.session import Session, SessionRegistry, SessionStatus
from browser_worker._net.instances import ServerInstances
from browser_worker._net.policy import NetworkPolicy
from browser_worker._python.snapshot import SnapshotStore
from browser_worker._redact import redact_value, redacting
from browser_worker.config import WorkerSettings
from browser_worker.errors import SessionNotFoundError, WorkerError
from browser_worker.metrics import WorkerMetrics
from browser_worker.session_views import SessionViews

log = logging.getLogger(__name__)


class BrowserWorker(SessionViews):
    """Runs Hypha browser apps; one isolated context per session."""

    #: Method names registered as the service (everything a Hypha server or user may call).
    SERVICE_METHODS = ("start", "stop", "get_logs", "get_artifact", "get_session_info", "list_sessions", "execute",
                       "take_screenshot", "print_pdf", "prepare_workspace", "close_workspace", "compile", "shutdown",
                       "clear_app_cache", "get_app_cache_stats", "watch", "stream_logs")
    name = "Browser Worker"
    description = ("Runs web apps (window, web-worker, web-python, iframe, web-app) in a warm pool "
                   "of headless Chromium contexts")
    supported_types: list[str] = list(SUPPORTED_TYPES)
    #: Reachable by the app controller of the whole server; each method authorizes its caller.
    visibility = "public"
    run_in_executor = False
    require_context = True

    def __init__(self, settings: WorkerSettings | None = None, *, in_docker: bool = False,
                 use_local_url: bool | str = True) -> None:
        """``in_docker`` and ``use_local_url`` as Hypha's own worker takes them: in a container
        Chromium runs without its sandbox; ``use_local_url`` is what the service registers."""
        s = settings or WorkerSettings.from_env()
        in_docker = bool(in_docker or s.in_docker)
        if in_docker and "--no-sandbox" not in s.chromium_args.split():
            s = s.with_(chromium_args=f"{s.chromium_args} --no-sandbox".strip())
        self.settings = s
        #: Hypha's ``BrowserWorker.in_docker``.
        self.in_docker = in_docker
        self.visibility = s.visibility
        self.limits = Limits.from_settings(s)
        net = NetworkPolicy(
            allow_private=s.allow_private_network, allow_hosts=s.allowed_hosts,
            allow_file_urls=s.allow_file_urls,
            trusted_origins=(origin_of(s.server_url),) if s.server_url else (),
        )
        budget = CompileBudget(
            max_files=s.compile_max_files, max_asset_bytes=s.compile_max_asset_bytes,
            max_bundle_bytes=s.compile_max_bundle_bytes, timeout=s.compile_timeout,
        )
        self.metrics = WorkerMetrics(self)
        self.engine = SessionEngine(s, net, budget, observer=self.metrics)
        #: The Hypha server instances pages may connect to (several on one Redis: instances.py).
        self.instances = ServerInstances(s.server_url)
        #: True: the server hands us its local URLs (same host); a URL string: that server.
        self.use_local_url: bool | str = use_local_url
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
        await self.engine.open()
        chromium = self.chromium
        log.info("browser worker ready: %s (%s)", chromium and chromium.path, chromium and chromium.source)

    async def close(self) -> None:
        """Stop every session, then close the pool, the browser and Playwright."""
        await self.engine.close()

    async def drain(self, timeout: float | None = None) -> None:
        """Refuse new starts, let starts in flight finish within ``timeout`` seconds (default
        ``drain_timeout``), then stop every session; the worker stays open until ``close``."""
        await self.engine.drain(self.settings.drain_timeout if timeout is None else timeout)

    async def initialize(self) -> None:
        """Hypha's name for :meth:`open` (its workers are set up with ``initialize()``)."""
        await self.open()

    # ----- what the engine runs on, read-only ------------------------------------------------

    @property
    def sessions(self) -> SessionRegistry:
        return self.engine.sessions

    @property
    def is_open(self) -> bool:
        return self.engine.is_open

    @property
    def chromium(self) -> ChromiumInfo | None:
        return self.engine.chromium

    @property
    def host(self) -> BrowserHost:
        return self.engine.host

    @property
    def pool(self) -> ContextPool:
        return self.engine.pool

    @property
    def net(self) -> NetworkPolicy:
        return self.engine.net

    @property
    def budget(self) -> CompileBudget:
        return self.engine.budget

    @property
    def snapshot(self) -> SnapshotStore | None:
        return self.engine.snapshot

    @property
    def assets_config(self) -> dict[str, Any] | None:
        """What web-python pages are told about the local assets (None: no assets here)."""
        assets = self.engine.page_assets
        return assets.page_config() if assets is not None else None

    def context_count(self) -> int:
        """Browser contexts that exist right now (sessions plus warm ones), counted by Chromium."""
        return self.engine.context_count()

    # ----- the door: parse, authorize, hand over ---------------------------------------------

    def _caller(self, context: Mapping[str, Any] | None) -> Caller:
        return caller_from(context, self.owner_workspace)

    def _authorized_session(self, method: str, session_id: Any, context: Mapping[str, Any] | None) -> Session:
        """The session ``session_id`` names, if the caller may use ``method`` on it."""
        caller = self._caller(context)
        session_id = parse_session_id(session_id)
        session = self.engine.find(session_id)
        if session is None:
            authorize(method, caller, None)
            raise SessionNotFoundError(session_id)
        authorize(method, caller, session.workspace)
        return session

    def _running(self, method: str, session_id: Any, context: Mapping[str, Any] | None) -> tuple[Session, Any]:
        """The running session ``session_id`` names (if the caller may use it) and its page."""
        session = self._authorized_session(method, session_id, context)
        if session.lease is None or session.status is not SessionStatus.RUNNING:
            raise WorkerError(f"Session {session.id} is {session.status.value}, not running")
        return session, session.lease.page

    async def start(self, config: Any, context: dict[str, Any] | None = None) -> str:
        """Start an app session; return its id once the page loaded and the app code ran.
        The config is parsed and authorized before anything is allocated."""
        caller = self._caller(context)
        workspace = authorize("start", caller, None)
        req = parse_start(config, workspace=None if caller.privileged else workspace,
                          limits=self.limits, net=self.net, free_id=caller.role is Role.LOCAL)
        if caller.privileged and req.server_url:
            req = await self._to_instance(req, config, free_id=caller.role is Role.LOCAL)
        return await self.engine.start(req)

    async def _to_instance(self, req: StartRequest, config: Mapping[str, Any], *, free_id: bool = False) -> StartRequest:
        """The app controller names its own instance as ``server_url``; the page connects
        there if it is an instance of this worker's deployment this worker can reach, else to
        the worker's own server (instances.py). Only a privileged caller (the controller runs
        as root) may point a page at another instance: tenants stay under ``--allow-hosts``."""
        assert req.server_url
        route = await self.instances.route(req.server_url)
        if route.reason is None:
            if route.server_url != self.instances.home:
                self.net.trust_instance(route.server_url)
            return req
        log.warning("%s: %s", req.session_id, route.reason)
        return reroute_start(config, req, route.server_url, route.reason, limits=self.limits, net=self.net,
                             free_id=free_id)

    async def stop(self, session_id: Any, context: dict[str, Any] | None = None) -> None:
        """Stop a session (a start in flight or queued is cancelled). Unknown or ended ids are
        a quiet no-op, as in the Worker API: a restarted worker must not block cleanup."""
        caller = self._caller(context)
        session_id = parse_session_id(session_id)
        session = self.engine.find(session_id)
        if session is None:
            authorize("stop", caller, None)
            return None
        authorize("stop", caller, session.workspace)
        if self.sessions.is_live(session_id):
            await self.engine.end(session, SessionStatus.STOPPED)
        return None

    async def get_session_info(self, session_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        return redact_value(self._authorized_session("get_session_info", session_id, context).info())

    async def list_sessions(self, workspace: Any = None, context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if workspace is not None:
            check_name(workspace, "workspace")
        workspace = authorize("list_sessions", self._caller(context), workspace)
        return [redact_value(s.info()) for s in self.sessions.live_sessions()
                if workspace is None or s.workspace == workspace]

    async def prepare_workspace(self, workspace: Any, context: dict[str, Any] | None = None) -> None:
        authorize("prepare_workspace", self._caller(context), check_name(workspace, "workspace"))
        return None  # contexts are created per session; nothing to prepare

    async def close_workspace(self, workspace: Any, context: dict[str, Any] | None = None) -> None:
        """Stop every session of ``workspace`` (starting ones included)."""
        authorize("close_workspace", self._caller(context), check_name(workspace, "workspace"))
        sessions = [s for s in self.sessions.live_sessions() if s.workspace == workspace]
        await asyncio.gather(*(self.engine.end(s, SessionStatus.STOPPED, "workspace closed") for s in sessions))

    async def compile(self, manifest: Any, files: Any, config: Any = None,
                      context: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Build the app's ``index.html`` bundle; keep it for starts in the same workspace."""
        req = parse_compile(manifest, files, config, net=self.net)
        workspace = authorize("compile", self._caller(context), req.workspace)
        progress = Progress(req.progress_callback)
        out_manifest, out_files = await asyncio.to_thread(
            compiler.compile_app, req.manifest, req.files, req.compiler_config(), progress,
            policy=self.net, budget=self.budget,
        )
        entry = next((f for f in out_files if f.get("path") == compiler.ENTRY), None)
        html = entry.get("content") if entry is not None else None
        if workspace and isinstance(html, str):
            self.engine.entries.put(workspace, html)
            rule = self.engine.route_cache.rule_for(out_manifest, canonical_type(out_manifest.get("type")))
            content_hash = out_manifest.get("content_hash")
            if rule is not None and isinstance(content_hash, str):
                await prefill(self.engine.route_cache, workspace, content_hash, html, rule, progress)
        return out_manifest, out_files

    async def clear_app_cache(self, workspace: Any, app_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Delete one app's route cache: ``{"deleted_entries": n}``."""
        workspace, app_id = self._cache_of("clear_app_cache", workspace, app_id, context)
        return {"deleted_entries": await self.engine.route_cache.clear(workspace, app_id)}

    async def get_app_cache_stats(self, workspace: Any, app_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """One app's route cache: entries, bytes, oldest/newest entry, this process's hits/misses."""
        workspace, app_id = self._cache_of("get_app_cache_stats", workspace, app_id, context)
        return await self.engine.route_cache.stats(workspace, app_id)

    def _cache_of(self, method: str, workspace: Any, app_id: Any, context: Mapping[str, Any] | None) -> tuple[str, str]:
        """The workspace and app whose cache ``method`` may touch (the caller's own workspace)."""
        authorize(method, self._caller(context), check_name(workspace, "workspace"))
        return workspace, check_app_id(app_id)

    def get_load(self, context: dict[str, Any] | None = None) -> float:
        """Share of session capacity in use (0.0 idle … 1.0 full; above 1 with a queue)."""
        return self.engine.load()

    async def shutdown(self, context: dict[str, Any] | None = None) -> None:
        """Ask the serving process to stop every session and exit (owner or admin only).
        Called from Python (no ``context``), also close the worker now, as Hypha's does."""
        authorize("shutdown", self._caller(context), None)
        self.shutdown_requested.set()
        if context is None:
            await self.close()

    # ----- Hypha's BaseWorker surface --------------------------------------------------------

    @property
    def service_id(self) -> str:
        return self.settings.service_id

    def get_worker_service(self, *, service_id: str | None = None,
                           use_local_url: bool | str | None = None) -> dict[str, Any]:
        """The service definition Hypha registers; every method is wrapped so that no error
        or result carries a token (``_redact``)."""
        return {
            "id": service_id or self.service_id,
            "name": self.name,
            "description": self.description,
            "type": "server-app-worker",
            "supported_types": list(self.supported_types),
            "use_local_url": self.use_local_url if use_local_url is None else use_local_url,
            "config": {"visibility": self.visibility, "require_context": self.require_context,
                       "run_in_executor": self.run_in_executor},
            **{name: redacting(getattr(self, name)) for name in self.SERVICE_METHODS},
            "get_load": self.get_load,
        }

    async def register_worker_service(self, server: Any, *, service_id: str | None = None,
                                      use_local_url: bool | str | None = None) -> Any:
        """Register on a connected server (a hypha-rpc client or Hypha's startup ``server``);
        its workspace becomes the worker's owner workspace."""
        config = server.get("config") if isinstance(server, dict) else getattr(server, "config", None)
        workspace = (config or {}).get("workspace") if isinstance(config, dict) else getattr(config, "workspace", None)
        self.owner_workspace = workspace if isinstance(workspace, str) else self.owner_workspace
        if isinstance(config, dict):
            await self._connected_instance(config)
        return await server.register_service(
            self.get_worker_service(service_id=service_id, use_local_url=use_local_url))

    async def _connected_instance(self, info: Mapping[str, Any]) -> None:
        """Learn the deployment from the connection: its public URL (which other instances must
        share), and the local URL of the instance the worker reached, which its controller
        hands pages; warm pages go there when this worker can reach it."""
        self.instances.connected(info.get("public_base_url"))
        local = info.get("local_base_url")
        if not isinstance(local, str) or not local.startswith(("http://", "https://")):
            return
        route = await self.instances.route(local.rstrip("/"))
        if route.reason is None and self.engine.is_open:
            self.net.trust_instance(route.server_url)
            self.pool.retarget(route.server_url)
