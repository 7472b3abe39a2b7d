"""Seeing a session as it runs: ``watch`` (its screencast, frame by frame) and ``stream_logs``
(its log items as they are written), both async generators that hypha-rpc hands to the remote
caller, so they travel over the caller's own authenticated connection: no port, no link token.

One :class:`~browser_worker._live.screencast.Screencast` per watched session, started by its
first watcher and stopped ``LINGER`` seconds after its last one left. Every stream holds a
ticket (``streams.py``): capped per session and per worker, released when its consumer stops
asking, when the session ends, or when the worker closes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, AsyncIterator

from browser_worker._aio import TaskSet
from browser_worker._door import WatchRequest
from browser_worker._live.screencast import Screencast
from browser_worker._session import Session, SessionStatus
from browser_worker._live.slots import StreamClosed, StreamSlots
from browser_worker._redact import redact
from browser_worker.config import DEFAULTS

log = logging.getLogger(__name__)

#: Seconds a screencast outlives its last watcher (a viewer switching tabs keeps it).
LINGER = 0.5
#: Seconds a watcher may leave a frame untaken before its stream is ended.
WATCH_IDLE = 2.5
#: Seconds a log reader may leave an item untaken before its stream is ended.
LOGS_IDLE = 10.0
#: Log items per ``next()`` at most is one; per look at the buffer at most this many.
LOG_BATCH = 100
ENDED = (SessionStatus.STOPPED, SessionStatus.FAILED, SessionStatus.STOPPING)


class LiveView:
    """The worker's open watches and log streams."""

    def __init__(self, *, watchers_per_session: int = DEFAULTS.max_watchers_per_session,
                 watchers: int = DEFAULTS.max_watchers,
                 log_streams_per_session: int = 8, log_streams: int = 128) -> None:
        self.watches = StreamSlots("watch", per_session=watchers_per_session, per_worker=watchers, idle=WATCH_IDLE)
        self.log_streams = StreamSlots("stream_logs", per_session=log_streams_per_session,
                                       per_worker=log_streams, idle=LOGS_IDLE)
        self._casts: dict[str, Screencast] = {}
        self._stopping: dict[str, asyncio.Task[None]] = {}
        self._tasks = TaskSet("live view")

    @property
    def active_screencasts(self) -> int:
        return len(self._casts)

    # ----- watch ------------------------------------------------------------------------------

    def watch(self, session: Session, page: Any, req: WatchRequest) -> AsyncIterator[dict[str, Any]]:
        """Frames of ``session``'s page, at most ``req.fps`` a second, as dicts with ``data``
        (JPEG bytes), ``timestamp``, ``width``, ``height``, ``url`` and ``seq``. The slot is taken
        now (a refusal is raised to the caller, not at the first frame)."""
        holder: dict[str, Any] = {}
        ticket = self.watches.open(session.id, release=lambda: self._leave(session.id, holder))
        return self._frames(session, page, req, ticket, holder)

    async def _frames(self, session: Session, page: Any, req: WatchRequest, ticket: Any,
                      holder: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            ticket.resumed()
            cast = await self._screencast(session.id, page, req)
            holder["cast"], holder["watcher"] = cast, cast.join()
            interval, last = 1.0 / req.fps, 0.0
            while session.status is SessionStatus.RUNNING and not cast.closed and not ticket.ended.is_set():
                wait = last + interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                frame = await cast.next_frame(holder["watcher"], timeout=1.0)
                if frame is None:
                    continue  # no repaint: look at the session and the ticket again
                last = time.monotonic()
                ticket.parked()
                yield {"seq": frame.seq, "data": frame.data, "timestamp": frame.timestamp,
                       "width": frame.width, "height": frame.height, "url": redact(page.url)[:2048]}
                ticket.resumed()
        except StreamClosed:
            return
        finally:
            ticket.end()

    async def _screencast(self, session_id: str, page: Any, req: WatchRequest) -> Screencast:
        stopping = self._stopping.pop(session_id, None)
        if stopping is not None:
            stopping.cancel()  # a watcher came back within the linger: keep the screencast
        cast = self._casts.get(session_id)
        if cast is None or cast.closed:
            cast = Screencast(page, quality=req.quality, max_width=req.max_width,
                              max_height=round(req.max_width * 2), every_nth=1)
            self._casts[session_id] = cast
            try:
                await cast.start()
            except Exception:
                self._casts.pop(session_id, None)
                await cast.stop()
                raise
        return cast

    def _leave(self, session_id: str, holder: dict[str, Any]) -> None:
        cast = holder.get("cast")
        if cast is None:
            return
        cast.leave(holder["watcher"])
        if cast.watchers == 0 and self._casts.get(session_id) is cast:
            self._stopping[session_id] = self._spawn(self._stop_later(session_id, cast))

    async def _stop_later(self, session_id: str, cast: Screencast) -> None:
        await asyncio.sleep(LINGER)
        if cast.watchers == 0:
            if self._casts.get(session_id) is cast:
                del self._casts[session_id]
            self._stopping.pop(session_id, None)
            await cast.stop()

    # ----- stream_logs ------------------------------------------------------------------------

    def stream_logs(self, session: Session, offset: int) -> AsyncIterator[dict[str, Any]]:
        """``session``'s log items from position ``offset`` on, as they are written (the same
        items as ``get_logs``, redacted when written), ending once the session has ended and its
        last items are out. Each item carries its ``position``."""
        ticket = self.log_streams.open(session.id, release=lambda: self._unfollow(session))
        session.followers += 1
        pump = getattr(session.lease, "console_pump", None)
        if pump is not None:
            pump.hurry()
        return self._log_items(session, offset, ticket)

    @staticmethod
    def _unfollow(session: Session) -> None:
        session.followers = max(0, session.followers - 1)

    async def _log_items(self, session: Session, offset: int, ticket: Any) -> AsyncIterator[dict[str, Any]]:
        logs, position = session.logs, offset
        try:
            ticket.resumed()
            while not ticket.ended.is_set():
                items, after = logs.since(position, LOG_BATCH)
                first = after - len(items)
                for i, item in enumerate(items):
                    ticket.parked()
                    yield {**item, "position": first + i}
                    ticket.resumed()
                position = after
                if not items:
                    if session.status in ENDED and session.finalizing and session.ending.done():  # type: ignore[union-attr]
                        return
                    await logs.wait_beyond(position, 1.0)
        except StreamClosed:
            return
        finally:
            ticket.end()

    # ----- lifetimes --------------------------------------------------------------------------

    async def session_ended(self, session_id: str) -> None:
        """The session is ending: stop its screencast now (before its context closes); its log
        streams end by themselves once the last items are out."""
        self.watches.end_session(session_id)
        stopping = self._stopping.pop(session_id, None)
        if stopping is not None:
            stopping.cancel()
        cast = self._casts.pop(session_id, None)
        if cast is not None:
            await cast.stop()

    async def close(self) -> None:
        self.watches.close()
        self.log_streams.close()
        for task in list(self._stopping.values()):
            task.cancel()
        self._tasks.cancel()
        casts, self._casts = list(self._casts.values()), {}
        await asyncio.gather(*(c.stop() for c in casts), return_exceptions=True)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro)
