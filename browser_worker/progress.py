"""Progress messages for a caller's ``progress_callback`` (and the session log).

The callback may be a local function, a coroutine function or a remote hypha-rpc function.
Calls are fire-and-forget: a slow or broken callback must never slow down or fail a start.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Callable

from .logs import LogBuffer
from .redact import redact

log = logging.getLogger(__name__)

_pending: set[asyncio.Future[Any]] = set()


class Progress:
    def __init__(self, callback: Callable[[dict[str, Any]], Any] | None) -> None:
        self._callback = callback if callable(callback) else None
        self._logs: LogBuffer | None = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def attach(self, logs: LogBuffer) -> None:
        """Also record every message in a session's log."""
        self._logs = logs

    def detach(self) -> None:
        self._logs = None

    def info(self, message: str) -> None:
        self.emit("info", message)

    def success(self, message: str) -> None:
        self.emit("success", message)

    def warning(self, message: str) -> None:
        self.emit("warning", message)

    def error(self, message: str) -> None:
        self.emit("error", message)

    def emit(self, type: str, message: str) -> None:
        """Record and forward a message; safe to call from a worker thread."""
        if self._loop is not None and not _in_loop(self._loop):
            self._loop.call_soon_threadsafe(self.emit, type, message)
            return
        message = redact(message)
        if self._logs is not None:
            self._logs.worker(message, type if type in ("error", "warning") else "info")
        if self._callback is None:
            return
        try:
            result = self._callback({"type": type, "message": message})
        except Exception as exc:
            log.debug("progress callback failed: %r", exc)
            return
        if inspect.isawaitable(result):
            future = asyncio.ensure_future(result)
            _pending.add(future)
            future.add_done_callback(_settle)


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _settle(future: asyncio.Future[Any]) -> None:
    _pending.discard(future)
    if not future.cancelled() and future.exception() is not None:
        log.debug("progress callback failed: %s", future.exception())
