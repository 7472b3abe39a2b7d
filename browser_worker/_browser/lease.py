"""A lease: one browser context and its page, held by one session until released.

The pool makes and warms leases; a session's engine, watchers and captures use them. The
lease also closes every popup of its context the moment it opens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from playwright.async_api import Browser, BrowserContext, Page

from browser_worker._aio import TaskSet
from browser_worker._browser.boot_gate import BootGate
from browser_worker._net import origin_of
from browser_worker.resources import templates_dir

log = logging.getLogger(__name__)

#: Which kind of warm page serves which app type.
WARM_KIND = {"window": "window", "web-worker": "window", "web-python": "web-python"}


@lru_cache(maxsize=None)
def popup_guard_script() -> str:
    """The init script that makes ``window.open`` return null (see popup-guard.js)."""
    return (templates_dir() / "popup-guard.js").read_text(encoding="utf-8")


#: Empties the page's console ring (see console-capture.js) and returns nothing.
DISCARD_CONSOLE = "() => { const take = window.__bwTakeConsole; if (typeof take === 'function') take(1 << 30); }"


@dataclass(eq=False)
class Lease:
    """One context and its page, held by one session until released."""

    browser: Browser
    context: BrowserContext
    page: Page
    warm_origin: str | None = None  # origin at which this page was pre-warmed
    warm_kind: str | None = None  # "window" (RPC module imported) or "web-python" (Pyodide booted)
    #: Pulls the page's console lines into the session's logs (a _logs.console.ConsolePump; set by
    #: the session that watches the page). Pages get no binding to push data to the worker.
    console_pump: Any = None
    #: Told the URL of every popup closed in this context (set by the session).
    popup_sink: Callable[[str], None] | None = None
    popups_blocked: int = 0
    #: Admits web-python pages a few at a time (a start's page loads its app under it).
    boot_gate: BootGate | None = None
    #: The pool's background tasks (closing popups).
    background: TaskSet = field(default_factory=lambda: TaskSet("lease"))

    def _popup(self, page: Page) -> None:
        """Any page besides the lease's own is a popup: close it at once."""
        if page is self.page:
            return
        self.popups_blocked += 1
        url = page.url or "about:blank"
        if self.popup_sink is not None:
            self.popup_sink(url)
        else:
            log.debug("popup blocked in a context without a session: %s", url[:200])
        self.background.spawn(page.close())

    def is_warm_for(self, url: str | None, app_type: str = "window") -> bool:
        return bool(
            url and self.warm_origin and origin_of(url) == self.warm_origin
            and self.warm_kind == WARM_KIND.get(app_type)
        )
