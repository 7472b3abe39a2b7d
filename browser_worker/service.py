"""The hypha-rpc service a Hypha server's app controller talks to, and its registration.

Every method takes the caller's ``context`` (``require_context``). A caller may act only on
sessions of its own workspace; root and admins may act on any.
"""

from __future__ import annotations

import asyncio
import secrets
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from .apptypes import SUPPORTED_TYPES
from .errors import PermissionDeniedError
from .worker import BrowserWorker

log = logging.getLogger(__name__)


def _caller_workspace(context: dict[str, Any] | None) -> str | None:
    return (context or {}).get("ws")


def _is_privileged(context: dict[str, Any] | None) -> bool:
    user = (context or {}).get("user") or {}
    roles = user.get("roles") or []
    return user.get("id") == "root" or "admin" in roles


class WorkerService:
    """Adapts a BrowserWorker to the Worker API, with per-workspace authorization."""

    def __init__(self, worker: BrowserWorker, *, service_id: str = "browser-worker",
                 use_local_url: bool | str = True) -> None:
        self.worker = worker
        self.service_id = service_id
        self.use_local_url = use_local_url
        self.shutdown_requested = asyncio.Event()

    def _authorize(self, session_id: str, context: dict[str, Any] | None) -> None:
        if context is None or _is_privileged(context):
            return
        session = self.worker.sessions.any(session_id)
        if session.workspace and session.workspace != _caller_workspace(context):
            raise PermissionDeniedError(
                f"Permission denied: session {session_id} belongs to another workspace"
            )

    async def start(self, config: dict[str, Any], context: dict[str, Any] | None = None) -> str:
        if context is not None and not _is_privileged(context) and isinstance(config, dict):
            target = config.get("workspace") or str(config.get("id") or "").split("/", 1)[0]
            if target and target != _caller_workspace(context):
                raise PermissionDeniedError(
                    f"Permission denied: cannot start a session in workspace {target}"
                )
        return await self.worker.start(config, context=context)

    async def stop(self, session_id: str, context: dict[str, Any] | None = None) -> None:
        self._authorize(session_id, context)
        await self.worker.stop(session_id)

    async def get_logs(self, session_id: str, type: str | None = None, offset: int = 0,
                       limit: int | None = None, context: dict[str, Any] | None = None) -> dict[str, Any]:
        self._authorize(session_id, context)
        return await self.worker.get_logs(session_id, type, offset, limit)

    async def get_session_info(self, session_id: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
        self._authorize(session_id, context)
        return await self.worker.get_session_info(session_id)

    async def list_sessions(self, workspace: str | None = None,
                            context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if context is not None and not _is_privileged(context):
            workspace = _caller_workspace(context)
        return await self.worker.list_sessions(workspace)

    async def execute(self, session_id: str, script: str, context: dict[str, Any] | None = None) -> Any:
        self._authorize(session_id, context)
        return await self.worker.execute(session_id, script)

    async def take_screenshot(self, session_id: str, format: str = "png", quality: int | None = None,
                              full_page: bool = False, clip: dict[str, float] | None = None,
                              selector: str | None = None, context: dict[str, Any] | None = None) -> bytes:
        self._authorize(session_id, context)
        return await self.worker.take_screenshot(
            session_id, format=format, quality=quality, full_page=full_page, clip=clip, selector=selector
        )

    async def prepare_workspace(self, workspace: str, context: dict[str, Any] | None = None) -> None:
        await self.worker.prepare_workspace(workspace)

    async def close_workspace(self, workspace: str, context: dict[str, Any] | None = None) -> None:
        if context is not None and not _is_privileged(context) and workspace != _caller_workspace(context):
            raise PermissionDeniedError(f"Permission denied: cannot close workspace {workspace}")
        await self.worker.close_workspace(workspace)

    async def compile(self, manifest: dict[str, Any], files: list[dict[str, Any]],
                      config: dict[str, Any] | None = None,
                      context: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return await self.worker.compile(manifest, files, config)

    async def get_load(self, context: dict[str, Any] | None = None) -> float:
        return self.worker.get_load()

    async def shutdown(self, context: dict[str, Any] | None = None) -> None:
        """Ask the serving process to stop every session and exit."""
        if context is not None and not _is_privileged(context):
            caller = _caller_workspace(context)
            own = {s.workspace for s in self.worker.sessions.live_sessions()}
            if own - {caller}:
                raise PermissionDeniedError("Permission denied: other workspaces have live sessions")
        self.shutdown_requested.set()

    def definition(self) -> dict[str, Any]:
        """The dict passed to ``register_service``."""
        return {
            "id": self.service_id,
            "name": "Browser Worker",
            "description": "Runs web apps (window, iframe, web-app) in a warm pool of headless Chromium contexts",
            "type": "server-app-worker",
            "supported_types": list(SUPPORTED_TYPES),
            "use_local_url": self.use_local_url,
            "config": {"visibility": "public", "require_context": True, "run_in_executor": False},
            "start": self.start,
            "stop": self.stop,
            "get_logs": self.get_logs,
            "get_session_info": self.get_session_info,
            "list_sessions": self.list_sessions,
            "execute": self.execute,
            "take_screenshot": self.take_screenshot,
            "prepare_workspace": self.prepare_workspace,
            "close_workspace": self.close_workspace,
            "compile": self.compile,
            "get_load": self.get_load,
            "shutdown": self.shutdown,
        }


async def _connect_with_retry(connect: Any, options: dict[str, Any], attempts: int = 4) -> Any:
    """Connect, retrying briefly: a server that is still starting, or creating the workspace
    for another client at the same moment, refuses the first try."""
    for attempt in range(1, attempts + 1):
        try:
            return await connect(dict(options))
        except Exception as exc:
            if attempt == attempts:
                raise
            delay = 0.5 * 2 ** (attempt - 1)
            log.warning("connecting to %s failed (%s); retrying in %.1fs", options["server_url"], exc, delay)
            await asyncio.sleep(delay)


@asynccontextmanager
async def registered(
    worker: BrowserWorker,
    server_url: str,
    token: str | None = None,
    workspace: str | None = None,
    service_id: str = "browser-worker",
) -> AsyncIterator[tuple[WorkerService, Any]]:
    """Connect to a Hypha server and register the worker service for the block's duration."""
    from hypha_rpc import connect_to_server

    # A client id ending in "__rlb" makes the server track this client's request rate, which is
    # what worker_selection_mode="min_load" compares between workers.
    options: dict[str, Any] = {
        "server_url": server_url,
        "name": "browser-worker",
        "client_id": f"browser-worker-{secrets.token_hex(4)}__rlb",
    }
    if token:
        options["token"] = token
    if workspace:
        options["workspace"] = workspace
    server = await _connect_with_retry(connect_to_server, options)
    service = WorkerService(worker, service_id=service_id, use_local_url=server_url.rstrip("/"))
    try:
        info = await server.register_service(service.definition())
        log.info("registered %s on %s", info["id"], server_url)
        yield service, server
    finally:
        try:
            await server.disconnect()
        except Exception as exc:
            log.debug("disconnect failed: %s", exc)
