"""Failure capture: a screenshot of a session's page when it fails, and Playwright tracing.

Both happen on the session's own context: tracing starts once the pool hands the context out
(``begin``), and ``finish`` runs in the session's one release path (``SessionEngine._release``),
before the context closes, each step under a short deadline so that a dead or spinning page
never holds the release up. :class:`Capture` owns the worker's trace folder (a private temp
directory made at ``open``, removed at ``close``); each kept trace file in it belongs to one
session's :class:`~browser_worker._session.artifacts.SessionArtifacts`, which deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from browser_worker._session import SCREENSHOT, TRACE, Artifact
from browser_worker._session import Session, SessionStatus
from browser_worker._postmortem.tracezip import scrub_zip
from browser_worker._redact import known_secrets, redact
from browser_worker.errors import first_line

if TYPE_CHECKING:
    from browser_worker._browser import Lease

log = logging.getLogger(__name__)

#: Seconds a failure screenshot may take (a spinning page cannot paint; it gets none).
SCREENSHOT_SECONDS = 2.0
#: Seconds stopping a trace may take (Playwright zips it) before it is given up.
TRACE_STOP_SECONDS = 10.0


class Capture:
    """Takes failure screenshots and runs tracing for the engine's sessions."""

    def __init__(self, trace_max_bytes: int) -> None:
        self.trace_max_bytes = trace_max_bytes
        self._folder: Path | None = None
        #: Set by the engine as it closes: traces of sessions ended then would be deleted at once.
        self.closing = False

    @property
    def folder(self) -> Path | None:
        return self._folder

    def open(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="browser-worker-traces-"))  # mode 0700

    def close(self) -> None:
        """Delete the trace folder and whatever is still in it (call after sessions dropped theirs)."""
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    async def begin(self, session: Session, lease: "Lease") -> None:
        """Start tracing the session's context if its level asks for it (a failure here only
        costs the trace, never the start)."""
        if session.artifacts.trace_mode == "off":
            return
        try:
            await lease.context.tracing.start(screenshots=True, snapshots=True, title=session.id)
            session.tracing = True
        except Exception as exc:
            session.artifacts.lack(TRACE, f"tracing could not start: {redact(first_line(exc, 300))}")
            session.logs.worker(f"Tracing could not start: {redact(first_line(exc, 300))}", "warning")

    async def finish(self, session: Session, lease: "Lease") -> None:
        """In the release path, the browser still connected: keep a screenshot if the session
        failed, then stop tracing, keeping the trace if the session's level says so."""
        failed = session.status is SessionStatus.FAILED
        artifacts = session.artifacts
        if failed and not self.closing:
            await self._screenshot(session, lease)
        if session.tracing:
            session.tracing = False
            keep = not self.closing and (artifacts.trace_mode == "on" or (failed and artifacts.trace_mode == "on-failure"))
            await self._stop_trace(session, lease, keep)
        artifacts.settled = True

    @staticmethod
    def browser_gone(session: Session) -> None:
        """The release path found no browser: nothing can be captured; say so."""
        session.tracing = False
        if session.status is SessionStatus.FAILED:
            session.artifacts.lack(SCREENSHOT, "the browser was gone when the session failed")
        if session.artifacts.trace_mode != "off":
            session.artifacts.lack(TRACE, "the browser was gone when the session ended")
        session.artifacts.settled = True

    async def _screenshot(self, session: Session, lease: "Lease") -> None:
        try:
            data = await asyncio.wait_for(
                lease.page.screenshot(type="png", caret="initial", timeout=SCREENSHOT_SECONDS * 1000 - 100),
                SCREENSHOT_SECONDS)
        except Exception as exc:
            why = "timed out" if isinstance(exc, asyncio.TimeoutError) else redact(first_line(exc, 300))
            session.artifacts.lack(SCREENSHOT, f"taking it failed: {why}")
            session.logs.worker(f"Failure screenshot not taken: {why}", "warning")
            return
        session.artifacts.keep(Artifact(SCREENSHOT, len(data), data=data))
        session.logs.worker(f"Failure screenshot kept ({len(data)} bytes; get_artifact(session_id, 'screenshot'))")

    async def _stop_trace(self, session: Session, lease: "Lease", keep: bool) -> None:
        tracing = lease.context.tracing
        if not keep or self._folder is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(tracing.stop(), TRACE_STOP_SECONDS)
            return
        raw = self._folder / f"{uuid.uuid4().hex}.raw.zip"
        final = raw.with_name(raw.name.replace(".raw", ""))
        try:
            await asyncio.wait_for(tracing.stop(path=raw), TRACE_STOP_SECONDS)
            size = raw.stat().st_size
            if size > self.trace_max_bytes:
                reason = f"the trace was {size} bytes, over trace_max_bytes ({self.trace_max_bytes})"
                session.artifacts.lack(TRACE, reason)
                session.logs.worker(f"Trace not kept: {reason}", "warning")
                return
            # Scrub before the file gets its readable name: the raw one never leaves this folder.
            secrets = [s for s in (session.token, *known_secrets()) if s]
            await asyncio.to_thread(scrub_zip, raw, final, secrets)
            size = final.stat().st_size
        except Exception as exc:
            why = "timed out" if isinstance(exc, asyncio.TimeoutError) else redact(first_line(exc, 300))
            final.unlink(missing_ok=True)
            session.artifacts.lack(TRACE, f"stopping the trace failed: {why}")
            session.logs.worker(f"Trace not kept: {why}", "warning")
            return
        finally:
            raw.unlink(missing_ok=True)
        session.artifacts.keep(Artifact(TRACE, size, path=final))
        session.logs.worker(f"Trace kept ({size} bytes, secrets scrubbed; get_artifact(session_id, 'trace'))")

