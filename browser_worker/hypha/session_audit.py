"""After the worker is back on a restarted server: end the sessions whose page did not come back.

An app page holds its own hypha-rpc connection. A server that lost its state (no Redis), or that
refuses the page's reconnection, leaves the page connected to nothing, and the worker would go
on reporting the session ``running`` while nobody can reach it. Once the worker's own connection
is back, the audit takes each running page's own answer (the worker asks every page to reconnect
at once and goes on asking for ``grace`` seconds: ``PageReconnector``): a page whose hypha-rpc
gave up, or that was still trying when the grace ended, is ended as failed, saying why. A page
that cannot say (no answer, an unknown hypha-rpc) is judged by the server instead: the audit
asks it, every ``poll`` seconds until the grace is over, whether the session's client is
registered (every hypha-rpc client registers a public ``built-in`` service), and ends the ones
the server says it does not know (a server that does not answer ends nothing). The server's
registry alone cannot tell: on Redis it keeps a page's services from before the restart.

A server on Redis would go on listing an ended session's instance (its page is not connected,
so the server never hears it leave) and hand it to every ``start`` of that app. So the audit
then asks the server's app controller, as the worker, to stop each one it ended; the server
decides whether the worker may (it may for its own workspace), and a refusal is logged.

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
    async def page_answers(self) -> dict[str, str]: ...
    def is_running(self, session_id: str) -> bool: ...
    async def end_lost(self, session_id: str, reason: str) -> bool: ...


def page_lost(answer: str) -> bool:
    """A page's answer (``PageReconnector``) that means it will not be back: its hypha-rpc gave
    up (or the app closed it), or it was still trying when the grace ended."""
    return answer == "closed" or answer.startswith(("still reconnecting", "still attempting"))


def lost_reason(grace: float, answer: str | None = None) -> str:
    if answer == "closed":
        return ("its page lost its connection to the Hypha server and did not reconnect: its client "
                "gave up (the server restarted and refused the page, or the app turned reconnection off)")
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
        #: Of those, the ones the server's app controller agreed to stop listing.
        self.forgotten: list[str] = []

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
        """Wait for every running session's page to be back; end the ones that cannot be."""
        deadline = time.monotonic() + self.grace
        # The pages themselves say best: the worker has asked each to reconnect (and asks until
        # it is back or the grace is over). A server on Redis still lists a page's services
        # from before the restart, so its registry cannot tell a page that is back from one
        # that is not; it is asked only about pages that could not say.
        pages = await self._sessions.page_answers()
        lost = {sid for sid, word in pages.items() if page_lost(word)}
        pending = {sid for sid, word in pages.items() if word != "connected" and sid not in lost}
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
        pending = (pending & missing) | {sid for sid in lost if self._sessions.is_running(sid)}
        ended = []
        for sid in sorted(pending):
            reason = lost_reason(self.grace, pages.get(sid))
            log.warning("session %s: %s; ending it", sid, reason)
            if await self._sessions.end_lost(sid, reason):
                ended.append(sid)
        self.ended.extend(ended)
        for sid in ended:
            await self._forget(sid)
        return ended

    async def _forget(self, session_id: str) -> None:
        """Ask the server to stop listing an instance the audit ended (best effort)."""
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                apps = await self._server.get_service("public/server-apps")
                await apps.stop(session_id, raise_exception=False)
            self.forgotten.append(session_id)
        except Exception as exc:
            log.warning("session %s: the server may still list it; stopping it there failed: %s",
                        session_id, str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else repr(exc))

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
