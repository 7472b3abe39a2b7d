"""The artifacts a session may keep besides its logs, as ``get_artifact`` names them.

What each holds and when it is made is ``_session/artifacts.py`` and ``_postmortem/failure.py``; this
is the vocabulary the door checks ``kind`` against.
"""

from __future__ import annotations

from typing import Any

from browser_worker.errors import WorkerError

SCREENSHOT = "screenshot"  # PNG of the page as the session failed
TRACE = "trace"  # Playwright trace zip (secrets scrubbed)
ARTIFACT_KINDS = (SCREENSHOT, TRACE)
CONTENT_TYPES = {SCREENSHOT: "image/png", TRACE: "application/zip"}


def parse_artifact_kind(value: Any) -> str:
    """``get_artifact``'s ``kind``: one of the kinds a session may keep."""
    if value not in ARTIFACT_KINDS:
        raise WorkerError(f"kind must be one of {', '.join(ARTIFACT_KINDS)}, got {str(value)[:40]!r}")
    return str(value)
