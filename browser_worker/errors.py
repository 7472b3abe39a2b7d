"""Errors the worker raises; their messages travel back to Hypha callers as they are."""

from __future__ import annotations


class WorkerError(Exception):
    """Any failure the worker reports to a caller."""


class ConfigError(ValueError):
    """An operator's setting, flag, environment variable or installation is wrong or missing.

    The message names the setting and the rule; the CLI prints it in one line and exits 1."""


class SessionNotFoundError(WorkerError):
    """The session id is not live (and, for reads, not retained either)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session not found: {session_id}")
        self.session_id = session_id


class CapacityError(WorkerError):
    """No session slot became free within the queue timeout."""


class AppStartError(WorkerError):
    """The app's page failed to load or its code threw while booting."""


class UnsupportedAppTypeError(WorkerError):
    """The manifest names an app type this worker does not run."""


class PageStuckError(WorkerError):
    """The page's main thread stopped answering (a script that never yields)."""


class PermissionDeniedError(WorkerError):
    """A caller asked for a session outside its own workspace."""
