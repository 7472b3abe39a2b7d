"""A session's page, watched: its console (pulled by a ``ConsolePump``), page errors, failed
requests, HTTP errors, crashes and blocked popups become the session's logs (the vocabulary is
in ``_logs/buffer.py``); a crash or a closed context fails the session."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Callable

from browser_worker._session import Session, SessionStatus
from browser_worker._logs import ERROR, NETWORK, LogBuffer
from browser_worker._logs import ConsolePump

if TYPE_CHECKING:
    from browser_worker._browser import Lease

log = logging.getLogger(__name__)

PAGE_PROGRESS = "[browser-worker] "  # prefix of progress lines that pages print (Pyodide boot, …)
PAGE_CRASHED = "The page crashed (its renderer process died); session failed"
CONTEXT_CLOSED = "The browser context closed unexpectedly; session failed"
POPUP_NOTICES = 10  # "popup blocked" lines per session; later ones are only counted


class PopupNotices:
    """Logs "popup blocked: <url>" for the first few popups a session tried to open."""

    def __init__(self, logs: LogBuffer) -> None:
        self._logs = logs
        self.count = 0

    def __call__(self, url: str) -> None:
        self.count += 1
        if self.count <= POPUP_NOTICES:
            self._logs.worker(f"popup blocked: {url[:200]}", "warning")
        if self.count == POPUP_NOTICES:
            self._logs.worker("further popups are blocked without a log line", "warning")


def follow_page(session: Session, lease: "Lease", on_failure: Callable[[str, Any], None],
                on_download: Callable[[Any], None] | None = None) -> None:
    """Turn the page's console, errors, failed requests and popups into ``session``'s logs;
    call ``on_failure(reason, browser)`` when the page crashes or its context closes."""
    logs = session.logs
    page = lease.page

    def on_line(kind: str, text: str) -> None:
        if text.startswith(PAGE_PROGRESS) and session.progress is not None:
            session.progress.info(text[len(PAGE_PROGRESS):])  # also logged, as worker info
            return
        logs.console(kind, text)

    pump = ConsolePump(page, on_line, lambda message: logs.worker(message, "warning"),
                       eager=lambda: session.status is SessionStatus.STARTING or session.followers > 0)

    def on_page_error(err: Any) -> None:
        logs.append(ERROR, f"Uncaught {err}", level="error", source="page")

    def on_request_failed(request: Any) -> None:
        logs.append(ERROR, f"{request.method} {request.url} failed: {request.failure}",
                    level="error", source="network")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            logs.append(NETWORK, f"HTTP {response.status} for {response.url}", level="warning", source="network")

    def on_crash(_: Any) -> None:
        pump.stop()
        on_failure(PAGE_CRASHED, lease.browser)

    def on_context_close(_: Any) -> None:
        pump.stop()
        if session.status in (SessionStatus.STARTING, SessionStatus.RUNNING):
            on_failure(CONTEXT_CLOSED, lease.browser)

    lease.console_pump = pump
    lease.popup_sink = PopupNotices(logs)
    lease.context.on("close", on_context_close)
    page.on("pageerror", on_page_error)
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)
    page.on("crash", on_crash)
    if on_download is not None:
        page.on("download", on_download)
    page.on("close", lambda _: pump.stop())
    pump.start()


async def read_console(lease: "Lease | None", timeout: float = 1.0, *, last: bool = False) -> None:
    """Pull the page's pending console lines now, so a log read is up to date. ``last``: the
    page is about to close, so stop pulling afterwards and log what the page dropped."""
    pump = lease.console_pump if lease is not None else None
    if pump is None:
        return
    try:
        await asyncio.wait_for(pump.pull(rounds=4, timeout=timeout), timeout)
    except Exception as exc:  # a busy, hung or closing page: keep what we have
        log.debug("reading the console of a page failed: %r", exc)
    finally:
        if last:
            pump.stop()
            pump.summarize()
