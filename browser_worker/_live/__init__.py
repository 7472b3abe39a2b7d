"""The live view of a session: ``watch`` (a screencast shared by its viewers, paced by the
slowest) and ``stream_logs``, within per-session and per-worker slots."""

from browser_worker._live.view import LiveView

__all__ = [
    "LiveView",
]
