"""Bringing app pages back to a restarted Hypha server at once.

Each app page holds its own hypha-rpc connection, whose reconnection loop backs off (1 s
doubling to 60 s). A server on Redis still lists the app's instance from before its restart and
hands it to the next ``start``, so until the page is back every call a user makes to it is lost
and waits out the caller's timeout (10 s and more). The worker learns first that the server is
back (``hypha.ConnectionWatch`` asks its readiness); ``PageReconnector.now()`` then asks each
running page that connects to Hypha to end its back-off, and asks again every ``interval`` s the
pages not connected yet (an attempt may lose a race with the server's start-up), for at most
``within`` s. The page side is ``templates/reconnect-now.js`` (and the web-python boot's
``_bw_reconnect_now``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from browser_worker._page import reconnect_now
from browser_worker._session import Session
from browser_worker.errors import WorkerError

log = logging.getLogger(__name__)

#: Answers after which a page is asked again; any other answer settles it.
ASK_AGAIN = frozenset({"reconnecting", "attempting", "no answer", "not booted"})
#: Seconds after which the pages still not back are asked once a second only.
SLOW_AFTER = 5.0


class PageReconnector:
    """One round of asks at a time; ``now()`` starts over, ``close()`` ends it."""

    def __init__(self, running: Callable[[], list[Session]], *, interval: float = 0.1, within: float = 30.0) -> None:
        #: The running sessions whose page connects to Hypha.
        self._running = running
        self.interval = interval
        self.within = within
        self._task: asyncio.Task[dict[str, str]] | None = None
        #: The first and the settled answer of each page asked (for tests and logs).
        self.first: dict[str, str] = {}
        self.last: dict[str, str] = {}

    def now(self) -> None:
        """The server is back: ask every page to reconnect now (a round in progress restarts)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = asyncio.ensure_future(self.rounds())
        self._task.add_done_callback(_retrieve)

    async def wait(self) -> dict[str, str]:
        """The answers of the current rounds, once they are over (rounds started over while
        waiting: the new ones)."""
        while True:
            task = self._task
            if task is None:
                return {}
            try:
                return await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled() or task is self._task:
                    raise  # the waiter itself was cancelled (or close() ended the rounds)

    async def rounds(self) -> dict[str, str]:
        t0 = time.monotonic()
        pending = {s.id: s for s in self._running()}
        asked: dict[str, str] = {}
        first_answers: dict[str, str] = {}
        latest: dict[str, str] = {}
        while pending:
            ids = sorted(pending)
            answers = await asyncio.gather(*(self._ask(pending[sid]) for sid in ids))
            for sid, state in zip(ids, answers):
                if state is None:  # ended meanwhile
                    pending.pop(sid)
                    continue
                first = first_answers.setdefault(sid, state)
                latest[sid] = state
                if state in ASK_AGAIN:
                    continue
                session = pending.pop(sid)
                asked[sid] = state
                if state == "connected" and first != "connected":
                    session.logs.worker(f"the Hypha server is back: the page reconnected "
                                        f"{time.monotonic() - t0:.2f}s after the worker saw it ready")
                elif state not in ("connected", "not connected"):
                    session.logs.worker(f"the Hypha server is back, but the page's connection is {state}", "warning")
            if not pending or time.monotonic() - t0 >= self.within:
                break
            await asyncio.sleep(self.interval if time.monotonic() - t0 < SLOW_AFTER else 1.0)
        for sid in pending:
            asked[sid] = f"still {latest.get(sid, 'unanswered')} after {self.within:g}s"
        self.last.update(asked)
        self.first.update(first_answers)
        if asked:
            log.info("pages asked to reconnect: %s", ", ".join(f"{k}: {v}" for k, v in sorted(asked.items())))
        return asked

    @staticmethod
    async def _ask(session: Session) -> str | None:
        try:
            page = session.running_lease().page
        except WorkerError:
            return None
        return await reconnect_now(page)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _retrieve(task: asyncio.Task[dict[str, str]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("asking pages to reconnect failed: %r", task.exception())
