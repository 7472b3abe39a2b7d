"""The session core: a session's state and its one lifetime (``Session``, ``SessionStatus``),
the registry of active and ended sessions, what a session keeps when it ends (artifacts), and
the engine's stats snapshot."""

from browser_worker._session.artifacts import Artifact, SCREENSHOT, SessionArtifacts, TRACE
from browser_worker._session.downloads import Download, safe_name
from browser_worker._session.session import Session, SessionRegistry, SessionStatus
from browser_worker._session.stats import StartObserver, Unobserved, WorkerStats

__all__ = [
    "Download",
    "safe_name",
    "Artifact",
    "SCREENSHOT",
    "Session",
    "SessionArtifacts",
    "SessionRegistry",
    "SessionStatus",
    "StartObserver",
    "TRACE",
    "Unobserved",
    "WorkerStats",
]
