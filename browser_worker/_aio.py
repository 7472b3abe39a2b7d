"""Background work with an owner: a task started from a callback or an event handler is kept
referenced until it ends (the event loop holds only weak references, so an unreferenced task
can be collected mid-flight), its failure is logged rather than lost, and the owner's close
waits for what is still running."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Awaitable, Coroutine

log = logging.getLogger(__name__)


class TaskSet:
    """The tasks one owner started in the background; ``wait`` or ``cancel`` them at close."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("%s: background task failed: %r", self._owner, task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    def cancel(self) -> None:
        """Cancel every task still running (each still ends through ``_done``)."""
        for task in list(self._tasks):
            task.cancel()

    async def wait(self) -> None:
        """Until every task started so far (and any they start) has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def quietly(action: Awaitable[Any], seconds: float) -> None:
    """Clean-up that may not hold anything up: bounded by ``seconds`` and never raising (the
    page, frame, dialog or download it touches may be gone or stuck)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(action, seconds)
