"""Who may act in a session right now: one control lease per session.

Watching is unlimited; acting (``act``, viewer input) needs the lease. One holder at a time; a
person may take it from an agent, never the reverse; it lapses after ``idle`` seconds without an
action. While someone else holds it, an action fails at once naming the holder and until when.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Callable

from browser_worker._door import Actor
from browser_worker.errors import WorkerError

class ControlBusyError(WorkerError):
    """Someone else holds the session's control lease."""


@dataclass(frozen=True)
class Holder:
    actor: Actor
    since: float
    until: float  # monotonic; renewed by every action

    def reply(self, now: float, wall: Callable[[], float]) -> dict[str, Any]:
        expires = datetime.fromtimestamp(wall() + max(0.0, self.until - now), timezone.utc)
        return {"holder": self.actor.id, "kind": self.actor.kind,
                "until": expires.isoformat(timespec="seconds"), "seconds_left": round(max(0.0, self.until - now), 1)}


#: Input events a session takes per second from its holder, and the burst it allows.
INPUT_RATE = 120.0
INPUT_BURST = 240.0


class ControlLease:
    """The lease of one session (``Session.control``), and its holder's input budget."""

    def __init__(self, idle: float, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.idle = idle
        self._clock = clock
        self._wall = wall
        self.holder: Holder | None = None
        #: Held while input or steps run in the page: bursts apply in the order they arrived.
        self.acting = asyncio.Lock()
        self._tokens = INPUT_BURST
        self._filled = clock()

    def spend(self, events: int) -> None:
        """Take ``events`` input events from the budget (120 a second, bursts of 240), or refuse
        the whole burst naming the rule."""
        now = self._clock()
        self._tokens = min(INPUT_BURST, self._tokens + (now - self._filled) * INPUT_RATE)
        self._filled = now
        if events > self._tokens:
            raise WorkerError(f"send_input: {events} events is over this session's input rate "
                              f"(rule: at most {INPUT_RATE:g} events a second, bursts of {INPUT_BURST:g}); "
                              "send fewer, or wait a moment")
        self._tokens -= events

    def current(self) -> Holder | None:
        if self.holder is not None and self._clock() >= self.holder.until:
            self.holder = None  # lapsed
        return self.holder

    def take(self, actor: Actor) -> Holder:
        """Hold the lease as ``actor`` (renewed if it holds it already). A person takes it from
        an agent; anything else held by someone else is refused, naming them."""
        now = self._clock()
        held = self.current()
        if held is not None and held.actor != actor:
            if not (actor.kind == "person" and held.actor.kind == "agent"):
                info = held.reply(now, self._wall)
                raise ControlBusyError(
                    f"Session is controlled by {held.actor.id} ({held.actor.kind}) until {info['until']} "
                    f"({info['seconds_left']:g} s left unless they act again); watch it, or try again then")
        if held is not None and held.actor == actor:
            self.holder = replace(held, until=now + self.idle)
        else:
            self.holder = Holder(actor, since=now, until=now + self.idle)
        return self.holder

    def release(self, actor: Actor) -> bool:
        """Give the lease up; False if ``actor`` did not hold it."""
        held = self.current()
        if held is None or held.actor.id != actor.id:
            return False
        self.holder = None
        return True

    def state(self) -> dict[str, Any]:
        held = self.current()
        return {"holder": None} if held is None else held.reply(self._clock(), self._wall)
