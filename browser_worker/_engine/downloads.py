"""Downloads for the engine's sessions: a page's download is kept (sessions with ``downloads``
on), within the per-file, per-session and per-worker budgets, in a folder of the worker's own;
or refused, saying why in the session's logs. The files themselves belong to each session
(``_session.SessionDownloads``) and go with its logs."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

from browser_worker._aio import quietly
from browser_worker._session import Download, Session, safe_name
from browser_worker.config import WorkerSettings
from browser_worker.errors import first_line


class DownloadKeeper:
    """Keeps what sessions' pages download; ``open`` makes its folder, ``close`` deletes it."""

    def __init__(self, settings: WorkerSettings, sessions: Callable[[], Iterable[Session]]) -> None:
        self.settings = settings
        #: Every session whose downloads count in the worker's budget (active and retained).
        self._sessions = sessions
        self._folder: Path | None = None

    def open(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="browser-worker-downloads-"))  # mode 0700

    def close(self) -> None:
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def number(session: Session) -> int:
        """Number a download as its event arrives (``act`` reports the ones its steps started)."""
        if not session.downloads.enabled:
            return 0
        session.downloads.started += 1
        return session.downloads.started

    async def keep(self, session: Session, download: Any, number: int) -> None:
        """Keep a file the page downloaded, within the budgets; or refuse it, saying why."""
        d, s = session.downloads, self.settings
        name = safe_name(str(download.suggested_filename or "download"))
        if not d.enabled:
            session.logs.worker(f"download of {name} refused: downloads are off for this session "
                                "(manifest or start config downloads: true turns them on)", "warning")
            await quietly(download.cancel(), 5.0)
            return
        if number > s.download_max_files:
            session.logs.worker(f"download of {name} refused: over download_max_files ({s.download_max_files} "
                                "files per session)", "warning")
            await quietly(download.cancel(), 5.0)
            return
        if self._folder is None:
            return
        download_id = f"d{number}"
        path = self._folder / f"{secrets.token_hex(8)}-{download_id}"  # the folder is ours, 0700
        try:
            await asyncio.wait_for(download.save_as(path), s.stop_timeout * 6)
            size = path.stat().st_size
        except Exception as exc:
            path.unlink(missing_ok=True)
            session.logs.worker(f"download of {name} failed: {first_line(exc, 200)}", "warning")
            return
        total = sum(x.downloads.bytes for x in self._sessions())
        over = (f"download_max_file_bytes ({s.download_max_file_bytes} bytes)" if size > s.download_max_file_bytes
                else f"download_max_session_bytes ({s.download_max_session_bytes} bytes)"
                if d.bytes + size > s.download_max_session_bytes
                else f"download_max_bytes ({s.download_max_bytes} bytes for the worker)"
                if total + size > s.download_max_bytes else None)
        if over is not None or d.dropped_reason is not None:
            path.unlink(missing_ok=True)
            why = f"over {over}" if over is not None else d.dropped_reason
            session.logs.worker(f"download of {name} ({size} bytes) removed: {why}", "warning")
            return
        d.files[download_id] = Download(download_id, name, size, path)
        session.logs.worker(f"download kept: {name} ({size} bytes) as {download_id}")

    @staticmethod
    def listing(session: Session) -> list[dict[str, Any]]:
        return session.downloads.listing()

    @staticmethod
    async def read(session: Session, download_id: str) -> dict[str, Any]:
        found = session.downloads.get(download_id, session.id)
        data = await asyncio.to_thread(found.path.read_bytes)
        return {**found.info(), "bytes": data}
