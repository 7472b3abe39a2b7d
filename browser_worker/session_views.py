"""What a caller can see of a session and do in its page: logs (read or followed), artifacts,
scripts, screenshots, PDFs and the live view. A mixin of :class:`~browser_worker.worker.BrowserWorker`,
whose ``_authorized_session`` / ``_running`` decide who may (``_api.policy``); each method parses
its arguments first (``_api``), then acts through the engine."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, AsyncIterator, Mapping

from browser_worker._api.artifact_kinds import parse_artifact_kind
from browser_worker._api.calls import Limits, parse_execute, parse_logs
from browser_worker._api.captures import parse_pdf, parse_screenshot
from browser_worker._api.live import parse_stream_logs, parse_watch
from browser_worker._engine import page_actions, pictures, watch
from browser_worker._engine.session import Session, SessionStatus
from browser_worker.errors import PageStuckError

if TYPE_CHECKING:
    from browser_worker._engine.engine import SessionEngine


class SessionViews:
    """The session-reading methods of the worker's service."""

    limits: Limits
    engine: "SessionEngine"

    def _authorized_session(self, method: str, session_id: Any, context: Mapping[str, Any] | None) -> Session:
        raise NotImplementedError

    def _running(self, method: str, session_id: Any, context: Mapping[str, Any] | None) -> tuple[Session, Any]:
        raise NotImplementedError

    async def get_logs(self, session_id: Any, type: Any = None, offset: Any = 0, limit: Any = None,
                       context: dict[str, Any] | None = None) -> dict[str, Any]:
        query = parse_logs(type, offset, limit)
        session = self._authorized_session("get_logs", session_id, context)
        if session.lease is not None and session.status in (SessionStatus.STARTING, SessionStatus.RUNNING):
            await watch.refresh(session.lease)  # lines the page holds but we have not read yet
        return session.logs.query(query.type, query.offset, query.limit)

    async def get_artifact(self, session_id: Any, kind: Any, context: dict[str, Any] | None = None) -> dict[str, Any]:
        """What a session kept when it ended: ``kind`` "screenshot" (PNG of the page as it
        failed) or "trace" (a Playwright trace zip, secrets scrubbed) →
        ``{kind, content_type, bytes, size, created_at}``; an error says why there is none."""
        kind = parse_artifact_kind(kind)
        session = self._authorized_session("get_artifact", session_id, context)
        return await asyncio.to_thread(session.artifacts.reply, kind, session.id, session.status.value)

    async def execute(self, session_id: Any, script: Any, timeout: Any = None,
                      context: dict[str, Any] | None = None) -> Any:
        """Evaluate JS in the session's page (an expression or a function) and return its
        JSON-able value, within ``timeout`` seconds (the worker's default when not given)."""
        req = parse_execute(self.limits, script, timeout)
        session, page = self._running("execute", session_id, context)
        try:
            result = await page_actions.evaluate(page, req.script, req.timeout)
        except PageStuckError as exc:
            if not session.stuck:
                session.stuck = True
                session.logs.worker(str(exc), "error")
            raise
        session.stuck = False
        return result

    async def take_screenshot(self, session_id: Any, format: Any = "png", quality: Any = None,
                              full_page: Any = False, clip: Any = None, selector: Any = None,
                              timeout: Any = None, wait_for: Any = None, animations: Any = None,
                              context: dict[str, Any] | None = None) -> bytes:
        """PNG, JPEG or WebP bytes of the page, a region (``clip``) or one element (``selector``),
        once the page reached what ``wait_for`` names; ``animations="disabled"`` makes the image
        repeatable. Everything within ``timeout`` seconds."""
        req = parse_screenshot(self.limits, format=format, quality=quality, full_page=full_page,
                               clip=clip, selector=selector, timeout=timeout, wait_for=wait_for,
                               animations=animations)
        _, page = self._running("take_screenshot", session_id, context)
        return await pictures.screenshot(page, req)

    async def print_pdf(self, session_id: Any, format: Any = "A4", landscape: Any = False,
                        print_background: Any = True, timeout: Any = None,
                        context: dict[str, Any] | None = None) -> bytes:
        """The page printed to PDF bytes (paper ``format``), within ``timeout`` seconds."""
        req = parse_pdf(self.limits, format=format, landscape=landscape,
                        print_background=print_background, timeout=timeout)
        _, page = self._running("print_pdf", session_id, context)
        return await pictures.pdf(page, req)

    async def watch(self, session_id: Any, fps: Any = None, quality: Any = None, max_width: Any = None,
                    context: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """The session's page, live: an async generator of JPEG frames (``data``, ``timestamp``,
        ``width``, ``height``, ``url``, ``seq``), one per ``next()``, at most ``fps`` a second
        (default 2, at most 10). Ends when the session does."""
        req = parse_watch(fps, quality, max_width)
        session, page = self._running("watch", session_id, context)
        return self.engine.live.watch(session, page, req)

    async def stream_logs(self, session_id: Any, offset: Any = 0,
                          context: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """The session's log items as they are written (those held from position ``offset``
        first), each with its ``position``; ends once the session has ended."""
        position = parse_stream_logs(offset)
        session = self._authorized_session("stream_logs", session_id, context)
        return self.engine.live.stream_logs(session, position)
