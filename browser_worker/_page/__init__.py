"""Operations on one live Playwright page, stateless: evaluate a script, screenshots and PDFs,
and the page's events (console, errors, crashes) turned into a session's logs."""

from browser_worker._page.scripts import evaluate, js_message, responsive
from browser_worker._page.events import follow_page, read_console
from browser_worker._page.pictures import pdf, screenshot

__all__ = [
    "evaluate",
    "follow_page",
    "js_message",
    "pdf",
    "read_console",
    "responsive",
    "screenshot",
]
