"""Session state and the registry that keeps active sessions and the logs (and artifacts) of
ended ones."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any

from browser_worker._control import ControlLease
from browser_worker._session.downloads import SessionDownloads
from browser_worker.errors import SessionNotFoundError, WorkerError
from browser_worker._session.artifacts import SessionArtifacts
from browser_worker._logs import LogBuffer
from browser_worker.config import DEFAULTS

if TYPE_CHECKING:
    from browser_worker._browser import Lease


class SessionStatus(str, Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


#: Which transitions are legal; anything else is a bug in the worker, not in the app.
_NEXT: dict[SessionStatus, set[SessionStatus]] = {
    SessionStatus.STARTING: {SessionStatus.RUNNING, SessionStatus.FAILED, SessionStatus.STOPPING},
    SessionStatus.RUNNING: {SessionStatus.STOPPING, SessionStatus.FAILED},
    SessionStatus.STOPPING: {SessionStatus.STOPPED, SessionStatus.FAILED},
    SessionStatus.STOPPED: set(),
    SessionStatus.FAILED: {SessionStatus.STOPPING, SessionStatus.STOPPED},
}


@dataclass
class Session:
    id: str
    app_id: str
    workspace: str
    client_id: str
    app_type: str
    entry_point: str | None
    logs: LogBuffer
    #: The type whose page the app runs in (an ImJoy iframe plugin runs in a window page).
    page_type: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    status: SessionStatus = SessionStatus.STARTING
    error: str | None = None
    created_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    )
    started: float = field(default_factory=time.monotonic)
    ended_at: float | None = None
    #: The session owns its lease from the moment the pool hands it out; only
    #: ``SessionEngine.end`` releases it.
    lease: "Lease | None" = None
    #: The task running the start, so a stop can cancel it (queue wait included).
    start_task: "asyncio.Task[Any] | None" = None
    #: Set once ``SessionEngine.end`` has begun: later stops/failures wait for it instead of ending twice.
    ending: "asyncio.Future[None] | None" = None
    progress: Any = None  # the start's Progress while the session is starting
    #: Set when the page's main thread stopped answering (``execute`` found it spinning);
    #: cleared when a later script runs. Such a session can still be stopped.
    stuck: bool = False
    #: Open ``stream_logs`` readers: while there are any, the page's console is read at the
    #: fast rate (their lines must show within a second).
    followers: int = 0
    #: The failure screenshot and trace, filled in the release path, kept with the logs.
    artifacts: SessionArtifacts = field(default_factory=SessionArtifacts)
    #: Whether the context is being traced now (``_postmortem/failure.py`` starts and stops it).
    tracing: bool = False
    #: The session's token, scrubbed from its trace (never shown: not in ``info``, not in repr).
    token: str | None = field(default=None, repr=False)
    #: Who may act in the page now (``act``, viewer input); made on the first action.
    control: ControlLease | None = None
    #: Files the page downloaded (when the session may: manifest ``downloads``).
    downloads: SessionDownloads = field(default_factory=SessionDownloads)
    #: Text typed into the page as a secret: masked in every snapshot and log line after.
    typed_secrets: set[str] = field(default_factory=set, repr=False)

    @property
    def finalizing(self) -> bool:
        return self.ending is not None

    def move_to(self, status: SessionStatus, error: str | None = None) -> None:
        if status != self.status and status not in _NEXT[self.status]:
            raise RuntimeError(f"session {self.id}: illegal transition {self.status.value} → {status.value}")
        self.status = status
        if error is not None:
            self.error = error
        if status in (SessionStatus.STOPPED, SessionStatus.FAILED):
            self.ended_at = time.monotonic()

    def running_lease(self) -> "Lease":
        """The lease of a running session (a caller acts only in a running page)."""
        if self.lease is None or self.status is not SessionStatus.RUNNING:
            raise WorkerError(f"Session {self.id} is {self.status.value}, not running")
        return self.lease

    def info(self) -> dict[str, Any]:
        data = {
            "session_id": self.id,
            "id": self.id,
            "app_id": self.app_id,
            "workspace": self.workspace,
            "client_id": self.client_id,
            "status": self.status.value,
            "app_type": self.app_type,
            "entry_point": self.entry_point,
            "created_at": self.created_at,
            "metadata": self.metadata,
        }
        if self.error:
            data["error"] = self.error
        if self.stuck:
            data["stuck"] = True
        if self.artifacts.settled:
            data["artifacts"] = self.artifacts.kinds()
        if self.control is not None and self.control.current() is not None:
            data["control"] = self.control.state()
        return data




class SessionRegistry:
    """Active sessions by id, plus ended ones kept for their logs, bounded by age, count and the
    bytes their logs hold together (oldest ended sessions go first). Their artifacts go with
    them, and have a byte budget of their own: over it, the oldest sessions lose their
    artifacts first and keep their logs."""

    def __init__(
        self,
        retention_seconds: float = DEFAULTS.log_retention,
        retention_count: int = DEFAULTS.log_retention_sessions,
        retained_bytes: int = DEFAULTS.retained_log_bytes,
        retained_artifact_bytes: int = DEFAULTS.retained_artifact_bytes,
    ) -> None:
        self._active: dict[str, Session] = {}
        self._ended: OrderedDict[str, Session] = OrderedDict()
        self._retention_seconds = retention_seconds
        self._retention_count = retention_count
        self._retained_budget = max(0, retained_bytes)
        self._artifact_budget = max(0, retained_artifact_bytes)

    def add(self, session: Session) -> None:
        """Register a starting session; its id must not be active. Ended logs under the same id
        give way to the new session if they are its workspace's, else the id stays taken
        (ids are bound to a workspace: ``_door.start.parse_start``; this is the backstop)."""
        if session.id in self._active:
            raise WorkerError(f"Session {session.id} already exists")
        ended = self._ended.get(session.id)
        if ended is not None and ended.workspace != session.workspace:
            raise WorkerError(f"Session {session.id} already exists")
        replaced = self._ended.pop(session.id, None)
        if replaced is not None:
            replaced.artifacts.drop("a new session took this id")
            replaced.downloads.drop("a new session took this id")
        self._active[session.id] = session

    def active(self, session_id: str) -> Session:
        try:
            return self._active[session_id]
        except KeyError:
            raise SessionNotFoundError(session_id) from None

    def any(self, session_id: str) -> Session:
        """An active session, or an ended one whose logs are still retained."""
        self._prune()
        session = self._active.get(session_id) or self._ended.get(session_id)
        if session is None:
            raise SessionNotFoundError(session_id)
        return session

    def is_active(self, session_id: str) -> bool:
        return session_id in self._active

    def retire(self, session: Session) -> None:
        """Move a session that ended out of the live set, keeping its logs for a while."""
        self._active.pop(session.id, None)
        if session.ended_at is None:
            session.ended_at = time.monotonic()
        self._ended[session.id] = session
        self._ended.move_to_end(session.id)
        self._prune()

    def active_sessions(self) -> list[Session]:
        return list(self._active.values())

    def ended_sessions(self) -> list[Session]:
        self._prune()
        return list(self._ended.values())

    def retained_bytes(self) -> int:
        """Bytes held by the logs of ended sessions (kept within ``retained_bytes``)."""
        self._prune()
        return self._ended_bytes()

    def retained_artifact_bytes(self) -> int:
        """Bytes held by the artifacts of ended sessions (kept within ``retained_artifact_bytes``)."""
        self._prune()
        return sum(s.artifacts.bytes for s in self._ended.values())

    def drop_artifacts(self, reason: str) -> None:
        """Forget the artifacts of every ended session (the worker is closing)."""
        for session in self._ended.values():
            session.artifacts.drop(reason)
            session.downloads.drop(reason)

    def _ended_bytes(self) -> int:
        return sum(s.logs.bytes for s in self._ended.values())

    def _prune(self) -> None:
        horizon = time.monotonic() - self._retention_seconds
        held = self._ended_bytes()
        while self._ended:
            oldest = next(iter(self._ended.values()))
            if (
                len(self._ended) > self._retention_count
                or (oldest.ended_at or 0) < horizon
                or held > self._retained_budget
            ):
                self._ended.popitem(last=False)
                oldest.artifacts.drop("the session is no longer retained")
                oldest.downloads.drop("the session is no longer retained")
                held -= oldest.logs.bytes
            else:
                break
        artifacts = sum(s.artifacts.bytes for s in self._ended.values())
        for session in self._ended.values():  # oldest first
            if artifacts <= self._artifact_budget:
                break
            if session.artifacts.bytes:
                artifacts -= session.artifacts.bytes
                session.artifacts.drop(f"dropped to keep retained_artifact_bytes ({self._artifact_budget})")
