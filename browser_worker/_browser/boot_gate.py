"""How many web-python pages boot or start an app at once, and in which order.

Booting a Python page costs one to two CPU-seconds even from the Pyodide snapshot, and running
an app in a warm one about one. Started all at once, a burst of N of them shares the cores
fairly, so every one finishes near the end; admitted a few at a time, the first ones finish
early and the last no later. Shorter work goes first (an app on a warm page, then a cold boot
for a waiting session, then a warm page made ahead of demand), arrivals in order within each.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from contextlib import asynccontextmanager
from typing import AsyncIterator

WARM_START, COLD_START, REFILL = 0, 1, 2  # priorities, highest first


def default_limit() -> int:
    """One at a time per core the worker may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class BootGate:
    """A semaphore of ``limit`` slots whose waiters are served by priority, then in order."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"boot gate limit must be at least 1, got {limit}")
        self.limit = limit
        self.active = 0
        self._queues: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque(), deque())

    def waiting(self, priority: int | None = None) -> int:
        """Waiters of one priority, or of all."""
        queues = self._queues if priority is None else self._queues[priority:priority + 1]
        return sum(len(queue) for queue in queues)

    @asynccontextmanager
    async def slot(self, priority: int) -> AsyncIterator[None]:
        """Hold one of the ``limit`` slots for the block's duration."""
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if self.active < self.limit and not self.waiting(None):
            self.active += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues[priority]
        queue.append(waiter)
        try:
            await waiter  # the releasing side handed its slot over
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted just as we were cancelled: pass the slot on
            else:
                queue.remove(waiter)
            raise

    def _release(self) -> None:
        for queue in self._queues:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the slot moves to the waiter: active unchanged
                    return
        self.active -= 1
