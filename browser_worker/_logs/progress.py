"""Progress messages for a caller's ``progress_callback`` (and the session log).

The callback may be a local function, a coroutine function or a remote hypha-rpc function.
Calls are fire-and-forget: a slow or broken callback must never slow down or fail a start.

A remote callback is a message through the Hypha server and its answer another, and the server
is what limits how many starts per second a deployment serves (issue 13). So a start's messages
can be *coalesced*: every message still goes to the session log at once, but the callback gets
them joined, at most once per ``coalesce`` seconds, and whatever is pending when the start ends
(``flush``). A start that loads within the window costs one callback instead of three; a long
one (Pyodide booting, packages installing) still reports at least every ``coalesce`` seconds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Callable

from browser_worker._aio import TaskSet
from browser_worker._logs.buffer import LogBuffer
from browser_worker._redact import redact

log = logging.getLogger(__name__)

_callbacks = TaskSet("progress callbacks")


#: Most to least severe: a coalesced batch is reported with the most severe type in it.
_SEVERITY = ("error", "warning", "success", "info")


class Progress:
    def __init__(
        self,
        callback: Callable[[dict[str, Any]], Any] | None,
        coalesce: float = 0.0,
        *,
        call_later: Callable[[float, Callable[[], None]], Any] | None = None,
    ) -> None:
        self._callback = callback if callable(callback) else None
        self._logs: LogBuffer | None = None
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._coalesce = coalesce if self._loop is not None else 0.0
        self._pending: list[tuple[str, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        #: Schedules the coalesced flush (the loop's ``call_later``; unit tests inject a fake).
        self._call_later = call_later or (self._loop.call_later if self._loop is not None else None)

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
        if self._coalesce <= 0:
            self._call(type, message)
            return
        self._pending.append((type, message))
        if self._timer is None:
            self._timer = self._call_later(self._coalesce, self.flush)  # type: ignore[misc]

    def flush(self) -> None:
        """Send the messages still held back, joined into one callback call."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        kinds = {kind for kind, _ in batch}
        kind = next((k for k in _SEVERITY if k in kinds), batch[-1][0])
        self._call(kind, "\n".join(message for _, message in batch))

    def _call(self, type: str, message: str) -> None:
        assert self._callback is not None
        try:
            result = self._callback({"type": type, "message": message})
        except Exception as exc:
            log.debug("progress callback failed: %r", exc)
            return
        if inspect.isawaitable(result):
            _callbacks.spawn(result)


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False

