"""BrowserWorker: the Python API and the face a Hypha server sees.

Usable on its own (``async with BrowserWorker(settings) as worker``) or registered on a Hypha
server (``browser_worker.hypha.registered``). Every service method does the same three things:
parse its arguments into a typed request (``_door``), authorize the caller by its ``context``
(``_door.authorize``), then make one call on the :class:`~browser_worker._engine.SessionEngine`,
which never sees a raw RPC value. No Playwright object and no session state is handled here.
The class attributes are those of Hypha's ``BaseWorker``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Mapping, Protocol

from browser_worker._door import (
    SUPPORTED_TYPES, Actor, Caller, Kind, Limits, Role, authorize, caller_from, check_name, parse_artifact_kind,
    parse_compile, parse_execute, parse_logs, parse_pdf, parse_screenshot, parse_session_id, parse_start,
    parse_act, parse_grant, parse_input, parse_snapshot, parse_stream_logs, parse_watch, reroute_start,
)
from browser_worker._engine import SessionEngine
from browser_worker._route_cache import check_app_id
from browser_worker._session import Session, WorkerStats
from browser_worker._redact import redact_value, redacting
from browser_worker.config import WorkerSettings
from browser_worker.errors import SessionNotFoundError, WorkerError
from browser_worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)


class AgentHost(Protocol):
    """Where agent grants live (``hypha.AgentGrants`` on the worker's Hypha connection)."""

    async def grant(self, session_id: str, ttl: float, grantor: str) -> dict[str, Any]: ...
    async def revoke(self, session_id: str) -> bool: ...


class BrowserWorker:
    """Runs Hypha browser apps; one isolated context per session."""

    #: Method names registered as the service (everything a Hypha server or user may call).
    SERVICE_METHODS = ("start", "stop", "get_logs", "get_artifact", "get_session_info", "list_sessions", "execute",
                       "take_screenshot", "print_pdf", "prepare_workspace", "close_workspace", "compile", "shutdown",
                       "clear_app_cache", "get_app_cache_stats", "watch", "stream_logs",
                       "snapshot", "act", "take_control", "release_control", "grant_agent", "revoke_agent", "send_input",
                       "list_downloads", "get_download")
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
        self._limits = Limits.from_settings(s)
        #: Prometheus counters and gauges (``metrics.serve_metrics`` serves them).
        self.metrics = WorkerMetrics()
        self._engine = SessionEngine(s, observer=self.metrics)
        self.metrics.read_from(self._engine.stats)
        #: True: the server hands us its local URLs (same host); a URL string: that server.
        self.use_local_url: bool | str = use_local_url
        #: The workspace the worker's service is registered in (set by ``registered``).
        self.owner_workspace: str | None = None
        self.shutdown_requested = asyncio.Event()
        self._agents: AgentHost | None = None

    # ----- lifetime -------------------------------------------------------------------------

    async def __aenter__(self) -> "BrowserWorker":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Launch Chromium now (not lazily) and fill the warm pool."""
        await self._engine.open()
        chromium = self._engine.chromium
        log.info("browser worker ready: %s (%s)", chromium and chromium.path, chromium and chromium.source)

    async def close(self) -> None:
        """Stop every session, then close the pool, the browser and Playwright."""
        await self._engine.close()

    async def drain(self, timeout: float | None = None) -> None:
        """Refuse new starts, let starts in flight finish within ``timeout`` seconds (default
        ``drain_timeout``), then stop every session; the worker stays open until ``close``."""
        await self._engine.drain(self.settings.drain_timeout if timeout is None else timeout)

    async def initialize(self) -> None:
        """Hypha's name for :meth:`open` (its workers are set up with ``initialize()``)."""
        await self.open()

    # ----- reading the worker ---------------------------------------------------------------

    def stats(self) -> WorkerStats:
        """A snapshot of the worker's counts: sessions, slots, warm pages, browser, viewers."""
        return self._engine.stats()

    @property
    def is_open(self) -> bool:
        return self._engine.is_open

    @property
    def chromium(self) -> Any:
        """The Chromium in use (path, source, version), or None before ``open``."""
        return self._engine.chromium

    @property
    def assets_config(self) -> dict[str, Any] | None:
        """What web-python pages are told about the local assets (None: no assets here)."""
        assets = self._engine.page_assets
        return assets.page_config() if assets is not None else None

    def context_count(self) -> int:
        """Browser contexts that exist right now (sessions plus warm ones), counted by Chromium."""
        return self._engine.context_count()

    # ----- the door: parse, authorize, hand over ---------------------------------------------

    def _caller(self, context: Mapping[str, Any] | None) -> Caller:
        return caller_from(context, self.owner_workspace)

    def _authorized_session(self, method: str, session_id: Any, context: Mapping[str, Any] | None) -> Session:
        """The session ``session_id`` names, if the caller may use ``method`` on it."""
        caller = self._caller(context)
        session_id = parse_session_id(session_id)
        session = self._engine.find(session_id)
        if session is None:
            authorize(method, caller, None)
            raise SessionNotFoundError(session_id)
        authorize(method, caller, session.workspace)
        return session

    async def start(self, config: Any, context: dict[str, Any] | None = None) -> str:
        """Start an app session; return its id once the page loaded and the app code ran.
        The config is parsed and authorized before anything is allocated. Only a privileged
        caller (the controller runs as root) may point a page at another Hypha instance; only a
        server's own controller (a root call from ``public/<server-id>``) names the replica
        whose manager the page also registers its services through."""
        caller = self._caller(context)
        workspace = authorize("start", caller, None)
        free_id = caller.role is Role.LOCAL
        net = self._engine.net
        req = parse_start(config, workspace=None if caller.privileged else workspace,
                          limits=self._limits, net=net, free_id=free_id, asking_server=caller.server_id)
        reroute = None
        if caller.privileged:
            reroute = lambda url, note: reroute_start(config, req, url, note, limits=self._limits,  # noqa: E731
                                                      net=net, free_id=free_id)
        return await self._engine.start(req, reroute)

    async def stop(self, session_id: Any, context: dict[str, Any] | None = None) -> None:
        """Stop a session (a start in flight or queued is cancelled). Unknown or ended ids are
        a quiet no-op, as in the Worker API: a restarted worker must not block cleanup."""
        try:
            session = self._authorized_session("stop", session_id, context)
        except SessionNotFoundError:
            return None
        await self._engine.stop(session)
        return None

    async def get_session_info(self, session_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        return redact_value(self._authorized_session("get_session_info", session_id, context).info())

    async def list_sessions(self, workspace: Any = None, context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if workspace is not None:
            check_name(workspace, "workspace")
        return self._engine.session_infos(authorize("list_sessions", self._caller(context), workspace))

    async def prepare_workspace(self, workspace: Any, context: dict[str, Any] | None = None) -> None:
        authorize("prepare_workspace", self._caller(context), check_name(workspace, "workspace"))
        return None  # contexts are created per session; nothing to prepare

    async def close_workspace(self, workspace: Any, context: dict[str, Any] | None = None) -> None:
        """Stop every session of ``workspace`` (starting ones included)."""
        authorize("close_workspace", self._caller(context), check_name(workspace, "workspace"))
        await self._engine.close_workspace(workspace)

    async def get_logs(self, session_id: Any, type: Any = None, offset: Any = 0, limit: Any = None,
                       context: dict[str, Any] | None = None) -> dict[str, Any]:
        query = parse_logs(type, offset, limit)
        return await self._engine.logs(self._authorized_session("get_logs", session_id, context), query)

    async def get_artifact(self, session_id: Any, kind: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """What a session kept when it ended: ``kind`` "screenshot" (PNG of the page as it
        failed) or "trace" (a Playwright trace zip, secrets scrubbed) →
        ``{kind, content_type, bytes, size, created_at}``; an error says why there is none."""
        kind = parse_artifact_kind(kind)
        return await self._engine.artifact(self._authorized_session("get_artifact", session_id, context), kind)

    async def execute(self, session_id: Any, script: Any, timeout: Any = None,
                      context: dict[str, Any] | None = None) -> Any:
        """Evaluate JS in the session's page (an expression or a function) and return its
        JSON-able value, within ``timeout`` seconds (the worker's default when not given)."""
        req = parse_execute(self._limits, script, timeout)
        return await self._engine.evaluate(self._authorized_session("execute", session_id, context), req)

    async def take_screenshot(self, session_id: Any, format: Any = "png", quality: Any = None,
                              full_page: Any = False, clip: Any = None, selector: Any = None,
                              timeout: Any = None, wait_for: Any = None, animations: Any = None,
                              context: dict[str, Any] | None = None) -> bytes:
        """PNG, JPEG or WebP bytes of the page, a region (``clip``) or one element (``selector``),
        once the page reached what ``wait_for`` names; ``animations="disabled"`` makes the image
        repeatable. Everything within ``timeout`` seconds."""
        req = parse_screenshot(self._limits, format=format, quality=quality, full_page=full_page,
                               clip=clip, selector=selector, timeout=timeout, wait_for=wait_for,
                               animations=animations)
        return await self._engine.screenshot(self._authorized_session("take_screenshot", session_id, context), req)

    async def print_pdf(self, session_id: Any, format: Any = "A4", landscape: Any = False,
                        print_background: Any = True, timeout: Any = None,
                        context: dict[str, Any] | None = None) -> bytes:
        """The page printed to PDF bytes (paper ``format``), within ``timeout`` seconds."""
        req = parse_pdf(self._limits, format=format, landscape=landscape,
                        print_background=print_background, timeout=timeout)
        return await self._engine.pdf(self._authorized_session("print_pdf", session_id, context), req)

    async def watch(self, session_id: Any, fps: Any = None, quality: Any = None, max_width: Any = None,
                    context: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """The session's page, live: an async generator of JPEG frames (``data``, ``timestamp``,
        ``width``, ``height``, ``url``, ``seq``), one per ``next()``, at most ``fps`` a second
        (default 2, at most 10). Ends when the session does."""
        req = parse_watch(fps, quality, max_width)
        return self._engine.watch(self._authorized_session("watch", session_id, context), req)

    async def stream_logs(self, session_id: Any, offset: Any = 0,
                          context: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """The session's log items as they are written (those held from position ``offset``
        first), each with its ``position``; ends once the session has ended."""
        position = parse_stream_logs(offset)
        return self._engine.stream_logs(self._authorized_session("stream_logs", session_id, context), position)

    # ----- control: what an agent reads and does, who may act now ---------------------------

    def _actor(self, context: Mapping[str, Any] | None, kind: Kind) -> Actor:
        caller = self._caller(context)
        who = "local" if caller.role is Role.LOCAL else f"{caller.user_id or 'anonymous'}@{caller.workspace}"
        return Actor(who, kind)

    async def snapshot(self, session_id: Any, depth: Any = None, max_chars: Any = None, root: Any = None,
                       context: dict[str, Any] | None = None) -> dict[str, Any]:
        """The page's accessibility tree as YAML with ``[ref=eN]`` (Playwright's AI snapshot,
        frames included), at most ``max_chars`` (default 24 000); ``truncated`` says when it was
        cut and how to narrow it (``depth``, ``root=<ref>``). Secret fields' values are masked."""
        req = parse_snapshot(depth, max_chars, root)
        return await self._engine.control.snapshot(self._authorized_session("snapshot", session_id, context), req)

    async def act(self, session_id: Any, steps: Any, return_snapshot: Any = False,
                  context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run up to 10 typed steps (click, double_click, hover, type, fill, press, select, check,
        scroll, navigate, back, forward, reload, wait_for, upload) addressed by snapshot ref, role
        and name, or point; holds the session's control lease as an agent. Returns a result per
        step, the new URL and title, dialogs dismissed, popups refused and console lines since."""
        req = parse_act(steps, return_snapshot)
        session = self._authorized_session("act", session_id, context)
        return await self._engine.control.act(session, req, self._actor(context, "agent"))

    async def take_control(self, session_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Hold the session's control lease as a person (taken from an agent if one holds it);
        it lapses after ``control_idle_timeout`` seconds without an action."""
        session = self._authorized_session("take_control", session_id, context)
        return self._engine.control.take(session, self._actor(context, "person"))

    async def release_control(self, session_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Give the control lease up (nothing happens if the caller does not hold it)."""
        session = self._authorized_session("release_control", session_id, context)
        caller = self._actor(context, "person")
        return self._engine.control.release(session, caller)

    async def send_input(self, session_id: Any, events: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """A person's input from the viewer: up to 120 mouse, wheel, key and text events (CSS
        pixels of the viewport; text is inserted as typed, so IME and paste work). Holds the
        control lease as a person; the burst is one ``action`` item in the session's logs."""
        burst = parse_input(events)
        session = self._authorized_session("send_input", session_id, context)
        return await self._engine.control.send_input(session, burst, self._actor(context, "person"))

    async def list_downloads(self, session_id: Any, context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The files the session's page downloaded (``{id, name, size, created_at}``); only a
        session started with ``downloads: true`` (manifest or start config) keeps any."""
        return self._engine.downloads.listing(self._authorized_session("list_downloads", session_id, context))

    async def get_download(self, session_id: Any, download_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """One downloaded file: ``{id, name, size, created_at, bytes}``."""
        download_id = check_name(download_id, "download_id")
        session = self._authorized_session("get_download", session_id, context)
        return await self._engine.downloads.read(session, download_id)

    async def grant_agent(self, session_id: Any, ttl: Any = None, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Let an agent drive the session through Hypha's MCP route: registers a tool service
        for this session only and returns its URL (``{url, expires_at, ttl}``). The URL is the
        grant's secret (docs/control.md); it ends after ``ttl`` seconds (default 600, at most
        3600), on ``revoke_agent``, or when the session ends."""
        seconds = parse_grant(ttl)
        session = self._authorized_session("grant_agent", session_id, context)
        if self._agents is None:
            raise WorkerError("grant_agent: agent grants need the worker registered on a Hypha server "
                              "(browser-worker serve), whose MCP route is on (hypha --enable-mcp)")
        if not self.is_running(session.id):
            raise WorkerError(f"Session {session.id} is {session.status.value}, not running")
        return await self._agents.grant(session.id, seconds, self._actor(context, "person").id)

    async def revoke_agent(self, session_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """End the session's agent grant: its tool service is unregistered at once."""
        session = self._authorized_session("revoke_agent", session_id, context)
        return {"revoked": self._agents is not None and await self._agents.revoke(session.id)}

    def attach_agents(self, agents: AgentHost | None) -> None:
        """Where grants are registered (``hypha.AgentGrants``, set when the worker registers)."""
        self._agents = agents

    async def agent_snapshot(self, session_id: str, depth: int | None = None) -> dict[str, Any]:
        """``snapshot`` for an agent grant (in-process; the grant was authorized when made)."""
        session = self._authorized_session("snapshot", session_id, None)
        return await self._engine.control.snapshot(session, parse_snapshot(depth))

    async def agent_act(self, session_id: str, steps: list[dict[str, Any]], actor_id: str,
                        return_snapshot: bool = False) -> dict[str, Any]:
        """``act`` for an agent grant, audited as ``actor_id``."""
        req = parse_act(steps, return_snapshot)
        session = self._authorized_session("act", session_id, None)
        return await self._engine.control.act(session, req, Actor(actor_id, "agent"))

    async def compile(self, manifest: Any, files: Any, config: Any = None,
                      context: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Build the app's ``index.html`` bundle; keep it for starts in the same workspace."""
        req = parse_compile(manifest, files, config, net=self._engine.net)
        workspace = authorize("compile", self._caller(context), req.workspace)
        return await self._engine.install(req, workspace)

    async def clear_app_cache(self, workspace: Any, app_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """Delete one app's route cache: ``{"deleted_entries": n}``."""
        workspace, app_id = self._cache_of("clear_app_cache", workspace, app_id, context)
        return {"deleted_entries": await self._engine.clear_route_cache(workspace, app_id)}

    async def get_app_cache_stats(self, workspace: Any, app_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """One app's route cache: entries, bytes, oldest/newest entry, this process's hits/misses."""
        workspace, app_id = self._cache_of("get_app_cache_stats", workspace, app_id, context)
        return await self._engine.route_cache_stats(workspace, app_id)

    def _cache_of(self, method: str, workspace: Any, app_id: Any, context: Mapping[str, Any] | None) -> tuple[str, str]:
        """The workspace and app whose cache ``method`` may touch (the caller's own workspace)."""
        authorize(method, self._caller(context), check_name(workspace, "workspace"))
        return workspace, check_app_id(app_id)

    def get_load(self, context: dict[str, Any] | None = None) -> float:
        """Share of session capacity in use (0.0 idle … 1.0 full; above 1 with a queue)."""
        return self._engine.load()

    async def shutdown(self, context: dict[str, Any] | None = None) -> None:
        """Ask the serving process to stop every session and exit (owner or admin only).
        Called from Python (no ``context``), also close the worker now, as Hypha's does."""
        authorize("shutdown", self._caller(context), None)
        self.shutdown_requested.set()
        if context is None:
            await self.close()

    # ----- for the serving process (not service methods) ------------------------------------

    def sessions_to_reconnect(self) -> list[str]:
        """Ids of running sessions whose page connects to Hypha itself (after a server restart
        the server must know each of them again: ``hypha.SessionAudit``)."""
        return self._engine.sessions_to_reconnect()

    def is_running(self, session_id: str) -> bool:
        return self._engine.is_running(session_id)

    async def page_answers(self) -> dict[str, str]:
        """Each page's answer to the latest ``reconnect_pages``, once every page is back or the
        grace is over ("connected", "closed", "still reconnecting after 90s", …)."""
        return await self._engine.page_answers()

    def reconnect_pages(self) -> None:
        """The Hypha server is back after an outage: have each app page end its reconnection
        back-off now, so that calls to instances from before the outage are not lost."""
        self._engine.reconnect_pages()

    async def end_lost(self, session_id: str, reason: str) -> bool:
        """End a running session whose page did not come back to the server; False if it had
        ended meanwhile (or is not running)."""
        return await self._engine.end_lost(session_id, reason)

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
            await self._engine.connected(config.get("public_base_url"), config.get("local_base_url"))
        return await server.register_service(
            self.get_worker_service(service_id=service_id, use_local_url=use_local_url))
