"""What a failed session leaves behind: the screenshot of its page as it failed and its
Playwright trace (secrets scrubbed), within byte budgets."""

from browser_worker._postmortem.failure import Capture

__all__ = [
    "Capture",
]
