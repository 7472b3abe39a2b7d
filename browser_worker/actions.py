"""Reading and acting on sessions: logs, info, listings, execute, screenshots, workspaces,
and compile. Every method parses its arguments and authorizes the caller first.

A mixin of :class:`~browser_worker.worker.BrowserWorker`, which owns the state it uses.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Mapping

from . import compiler, page_actions, page_logs
from .errors import WorkerError
from .policy import Caller, authorize, check_name
from .progress import Progress
from .redact import redact_value
from .requests import parse_execute, parse_logs, parse_screenshot
from .session import Session, SessionStatus

if TYPE_CHECKING:
    from .budget import CompileBudget
    from .cache import EntryCache
    from .netpolicy import NetworkPolicy
    from .requests import Limits
    from .session import SessionRegistry


class SessionActions:
    sessions: "SessionRegistry"
    limits: "Limits"
    net: "NetworkPolicy"
    budget: "CompileBudget"
    _entries: "EntryCache"

    def _caller(self, context: Mapping[str, Any] | None) -> Caller: ...
    def _authorized_session(self, method: str, session_id: Any, context: Mapping[str, Any] | None) -> Session: ...
    async def _end(self, session: Session, status: SessionStatus, reason: str | None = None) -> None: ...

    # ----- reading and acting on live sessions ----------------------------------------------

    async def get_logs(self, session_id: Any, type: Any = None, offset: Any = 0, limit: Any = None,
                       context: dict[str, Any] | None = None) -> dict[str, Any]:
        query = parse_logs(type, offset, limit)
        session = self._authorized_session("get_logs", session_id, context)
        await self._flush_console(session)
        return session.logs.query(query.type, query.offset, query.limit)

    async def _flush_console(self, session: Session) -> None:
        """Pull console lines the page holds but the worker has not read yet, so logs are up to date."""
        if session.lease is not None and session.status in (SessionStatus.STARTING, SessionStatus.RUNNING):
            await page_logs.refresh(session.lease)

    async def get_session_info(self, session_id: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        return redact_value(self._authorized_session("get_session_info", session_id, context).info())

    async def list_sessions(self, workspace: Any = None, context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if workspace is not None:
            check_name(workspace, "workspace")
        workspace = authorize("list_sessions", self._caller(context), workspace)
        return [
            redact_value(s.info()) for s in self.sessions.live_sessions()
            if workspace is None or s.workspace == workspace
        ]

    def _running_page(self, method: str, session_id: Any, context: Mapping[str, Any] | None) -> Any:
        session = self._authorized_session(method, session_id, context)
        if session.lease is None or session.status is not SessionStatus.RUNNING:
            raise WorkerError(f"Session {session.id} is {session.status.value}, not running")
        return session.lease.page

    async def execute(self, session_id: Any, script: Any, timeout: Any = None,
                      context: dict[str, Any] | None = None) -> Any:
        """Evaluate JS in the session's page (an expression or a function) and return its
        JSON-able value, within ``timeout`` seconds (the worker's default when not given)."""
        req = parse_execute(self.limits, script, timeout)
        page = self._running_page("execute", session_id, context)
        return await page_actions.evaluate(page, req.script, req.timeout)

    async def take_screenshot(self, session_id: Any, format: Any = "png", quality: Any = None,
                              full_page: Any = False, clip: Any = None, selector: Any = None,
                              timeout: Any = None, context: dict[str, Any] | None = None) -> bytes:
        """PNG or JPEG bytes of the page, a region (``clip``) or one element (``selector``)."""
        req = parse_screenshot(self.limits, format=format, quality=quality, full_page=full_page,
                               clip=clip, selector=selector, timeout=timeout)
        page = self._running_page("take_screenshot", session_id, context)
        return await page_actions.screenshot(page, req)

    # ----- workspace-level ------------------------------------------------------------------

    async def prepare_workspace(self, workspace: Any, context: dict[str, Any] | None = None) -> None:
        authorize("prepare_workspace", self._caller(context), check_name(workspace, "workspace"))
        return None  # contexts are created per session; nothing to prepare

    async def close_workspace(self, workspace: Any, context: dict[str, Any] | None = None) -> None:
        """Stop every session of ``workspace`` (starting ones included)."""
        authorize("close_workspace", self._caller(context), check_name(workspace, "workspace"))
        sessions = [s for s in self.sessions.live_sessions() if s.workspace == workspace]
        await asyncio.gather(*(self._end(s, SessionStatus.STOPPED, "workspace closed") for s in sessions))

    async def compile(self, manifest: Any, files: Any, config: Any = None,
                      context: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Build the app's ``index.html`` bundle; keep it for starts in the same workspace."""
        if config is not None and not isinstance(config, dict):
            raise WorkerError(f"compile config must be an object, got {type(config).__name__}")
        config = dict(config or {})
        caller = self._caller(context)
        wanted = config.get("workspace")
        if wanted is not None:
            check_name(wanted, "config.workspace")
        workspace = authorize("compile", caller, wanted)
        progress = Progress(config.pop("progress_callback", None))
        out_manifest, out_files = await asyncio.to_thread(
            compiler.compile_app, manifest, files, config, progress, policy=self.net, budget=self.budget
        )
        if workspace:
            entry = next((f for f in out_files if f.get("path") == compiler.ENTRY), None)
            if entry is not None and isinstance(entry.get("content"), str):
                self._entries.put(workspace, entry["content"])
        return out_manifest, out_files
