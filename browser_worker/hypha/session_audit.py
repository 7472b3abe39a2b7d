"""After the worker is back on a restarted server: end the sessions whose page did not come back.

An app page holds its own hypha-rpc connection, which reconnects on its own back-off (1 s
doubling to 60 s). A server that lost its state (no Redis), or that refuses the page's
reconnection, leaves the page connected to nothing, and the worker would go on reporting the
session ``running`` while nobody can reach it. So once the worker's own connection is back, the
audit asks the server, every ``poll`` seconds for ``grace`` seconds, whether each running
session's client is registered again (every hypha-rpc client registers a public ``built-in``
service); sessions the server still says it does not know then are ended as failed, saying
why (a server that does not answer ends nothing). Pages that reconnect in
time keep their session.

Only app types whose page our templates connect (``apptypes.CONNECTS_TO_HYPHA``) are checked:
an iframe or web-app page may never connect, and that is not a fault.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from browser_worker.config import DEFAULTS


log = logging.getLogger(__name__)

#: Seconds one "is this client registered" question may take.
ASK_TIMEOUT = 5.0
#: Questions in flight at once.
ASK_CONCURRENCY = 8


class Sessions(Protocol):
    """What the audit needs of the worker (``BrowserWorker`` is one)."""

    def sessions_to_reconnect(self) -> list[str]: ...
    def is_running(self, session_id: str) -> bool: ...
    async def end_lost(self, session_id: str, reason: str) -> bool: ...


def lost_reason(grace: float) -> str:
    return (f"its page lost its connection to the Hypha server and did not reconnect within "
            f"{grace:g}s after the worker did (the server restarted or refused the page)")


class SessionAudit:
    """Call ``reconnected()`` each time the worker's connection is back; ``close()`` at the end."""

    def __init__(self, sessions: Sessions, server: Any, *, grace: float = DEFAULTS.session_reconnect_grace, poll: float = 2.0) -> None:
        self._sessions = sessions
        self._server = server
        self.grace = grace
        self._poll = poll
        self._task: asyncio.Task[list[str]] | None = None
        #: Ids of sessions ended by audits so far (for logs and tests).
        self.ended: list[str] = []

    def reconnected(self) -> None:
        """Start an audit (an audit still running starts over: its grace counts from now)."""
        if self.grace <= 0:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = asyncio.ensure_future(self.audit())

    async def wait(self) -> list[str]:
        """The ids the current audit ended (after it finished)."""
        return await self._task if self._task is not None else []

    async def audit(self) -> list[str]:
        """Wait for every running session's client to be registered again; end the others."""
        pending = set(self._sessions.sessions_to_reconnect())
        deadline = time.monotonic() + self.grace
        limit = asyncio.Semaphore(ASK_CONCURRENCY)
        missing: set[str] = set()  # the server's last answer was "no such client"
        while pending:
            asked = sorted(pending)
            answers = await asyncio.gather(*(self._registered(sid, limit) for sid in asked))
            for sid, present in zip(asked, answers):
                if present or not self._sessions.is_running(sid):
                    pending.discard(sid)  # back, or ended some other way meanwhile
                    missing.discard(sid)
                elif present is False:
                    missing.add(sid)
                else:
                    missing.discard(sid)  # no answer: the server is not in a state to tell
            if not pending or time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(self._poll, max(0.0, deadline - time.monotonic())))
        ended = []
        for sid in sorted(pending & missing):
            log.warning("session %s: %s; ending it", sid, lost_reason(self.grace))
            if await self._sessions.end_lost(sid, lost_reason(self.grace)):
                ended.append(sid)
        self.ended.extend(ended)
        return ended

    async def _registered(self, session_id: str, limit: asyncio.Semaphore) -> bool | None:
        """Whether the server lists the session's client now; None when it did not say (a
        timeout, a server busy coming back): only a plain "not found" can end a session."""
        async with limit:
            try:
                await asyncio.wait_for(self._server.get_service_info(f"{session_id}:built-in"), ASK_TIMEOUT)
                return True
            except Exception as exc:
                if "not found" in str(exc).lower():
                    return False
                log.debug("asking for %s's client failed: %r", session_id, exc)
                return None

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
