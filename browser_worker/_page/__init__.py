"""Operations on one live Playwright page, stateless: evaluate a script, screenshots and PDFs,
and the page's events (console, errors, crashes) turned into a session's logs."""

from browser_worker._page.scripts import RECONNECT_STATES, evaluate, js_message, reconnect_now, responsive
from browser_worker._page.events import follow_page, read_console
from browser_worker._page.pictures import pdf, screenshot

__all__ = [
    "RECONNECT_STATES",
    "evaluate",
    "follow_page",
    "js_message",
    "pdf",
    "read_console",
    "reconnect_now",
    "responsive",
    "screenshot",
]
