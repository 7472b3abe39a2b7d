"""The files a session's page downloaded (only sessions that asked: manifest ``downloads``).

Each is a file in the worker's downloads folder under a name of ours (``d1``, ``d2``, …); the
page's suggested name is kept, made safe, for ``list_downloads``/``get_download``. The files go
with the session's logs: :meth:`SessionDownloads.drop` deletes them when the registry forgets
the session (or the worker closes).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from browser_worker.errors import WorkerError

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_name(suggested: str) -> str:
    """A file name a caller can save as-is: no path, no control or odd characters, ≤ 100 chars."""
    name = _UNSAFE.sub("_", suggested.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    return (name or "download")[:100]


@dataclass
class Download:
    id: str
    name: str
    size: int
    path: Path
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds"))

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "size": self.size, "created_at": self.created_at}


@dataclass
class SessionDownloads:
    """What one session downloaded, and whether it may."""

    enabled: bool = False
    files: dict[str, Download] = field(default_factory=dict)
    #: Downloads the page started (kept or not): ids count on, and the per-session file budget.
    started: int = 0
    dropped_reason: str | None = None

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files.values())

    def listing(self) -> list[dict[str, Any]]:
        return [f.info() for f in self.files.values()]

    def get(self, download_id: str, session_id: str) -> Download:
        found = self.files.get(download_id)
        if found is None:
            why = f" ({self.dropped_reason})" if self.dropped_reason else ""
            have = ", ".join(self.files) or "none"
            raise WorkerError(f"no download {download_id[:40]!r} in session {session_id}{why}; it has: {have}")
        return found

    def drop(self, reason: str) -> None:
        """Delete every file (the session is forgotten, or the worker closes)."""
        for f in self.files.values():
            with contextlib.suppress(OSError):
                f.path.unlink()
        self.files.clear()
        self.dropped_reason = reason
