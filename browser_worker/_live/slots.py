"""Caps on the worker's open streams (``watch``, ``stream_logs``), and the release of a stream
whose consumer stopped asking.

A stream is an async generator that hypha-rpc drives with one remote ``next()`` per item. A
viewer that closes its tab never says so: its generator just stays parked at ``yield``, and
``finally`` would run only when something collects it. So each stream holds a :class:`Ticket`;
a watchdog ends the tickets parked longer than ``idle`` seconds, and ending a ticket runs its
release (leaving the screencast, freeing the slot) at once. A generator resumed after that finds
its ticket ended and stops.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Callable

from browser_worker.errors import WorkerError


class StreamClosed(Exception):
    """The ticket was ended (idle consumer, session over, worker closing)."""


class Ticket:
    """One open stream's slot; ``release`` runs exactly once, whoever ends it."""

    def __init__(self, owner: "StreamSlots", kind: str, session_id: str, release: Callable[[], None] | None) -> None:
        self._owner = owner
        self.kind = kind
        self.session_id = session_id
        self._release = release
        self.parked_at: float | None = time.monotonic()  # created parked: a stream never iterated is idle too
        self.ended = asyncio.Event()

    def parked(self) -> None:
        """About to ``yield``: from now on the consumer's silence counts."""
        self.parked_at = time.monotonic()

    def resumed(self) -> None:
        """Back from ``yield`` (the consumer asked for more); raises if the ticket was ended."""
        if self.ended.is_set():
            raise StreamClosed
        self.parked_at = None

    def end(self) -> None:
        if self.ended.is_set():
            return
        self.ended.set()
        self._owner._forget(self)
        release, self._release = self._release, None
        if release is not None:
            release()


class StreamSlots:
    """At most ``per_session`` streams of a kind per session and ``per_worker`` in all."""

    def __init__(self, kind: str, *, per_session: int, per_worker: int, idle: float) -> None:
        self.kind = kind
        self.per_session = per_session
        self.per_worker = per_worker
        self.idle = idle
        self._open: set[Ticket] = set()
        self._by_session: Counter[str] = Counter()
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def count(self) -> int:
        return len(self._open)

    def open(self, session_id: str, release: Callable[[], None] | None = None) -> Ticket:
        """A ticket for a new stream, or an error naming the cap that is reached."""
        if self._by_session[session_id] >= self.per_session:
            raise WorkerError(f"{self.kind}: session {session_id} already has {self.per_session} open "
                              f"{self.kind} streams (rule: at most {self.per_session} per session)")
        if len(self._open) >= self.per_worker:
            raise WorkerError(f"{self.kind}: this worker already serves {self.per_worker} {self.kind} "
                              f"streams (rule: at most {self.per_worker}); try again later")
        ticket = Ticket(self, self.kind, session_id, release)
        self._open.add(ticket)
        self._by_session[session_id] += 1
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.ensure_future(self._end_idle_tickets())
        return ticket

    def end_session(self, session_id: str) -> None:
        for ticket in [t for t in self._open if t.session_id == session_id]:
            ticket.end()

    def close(self) -> None:
        for ticket in list(self._open):
            ticket.end()
        if self._watchdog is not None:
            self._watchdog.cancel()

    def _forget(self, ticket: Ticket) -> None:
        if ticket in self._open:
            self._open.discard(ticket)
            self._by_session[ticket.session_id] -= 1
            if self._by_session[ticket.session_id] <= 0:
                del self._by_session[ticket.session_id]

    async def _end_idle_tickets(self) -> None:
        while self._open:
            await asyncio.sleep(min(0.5, self.idle / 4))
            now = time.monotonic()
            for ticket in list(self._open):
                if ticket.parked_at is not None and now - ticket.parked_at > self.idle:
                    ticket.end()
