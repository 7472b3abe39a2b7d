"""Errors the worker raises; their messages travel back to Hypha callers as they are.

Hypha's own callers catch the error classes of ``hypha.workers.base`` (``WorkerError``,
``SessionNotFoundError``). Hypha is an optional extra, and importing that module loads Hypha's
whole ``hypha.workers`` package (its own Playwright worker included), so this module never
imports it. Instead, once the process has loaded ``hypha.workers.base`` — which any code that
catches its classes has done — an error raised here is an instance of a class built from ours
*and* Hypha's counterpart (:func:`_with_hypha_base`): ``except hypha.workers.base.WorkerError``
catches it, and so does ``except browser_worker.errors.WorkerError``. The class keeps our name
and module, so what a remote caller reads is unchanged.
"""

from __future__ import annotations

import sys
from typing import Any

_HYPHA_BASE_MODULE = "hypha.workers.base"
_hybrids: dict[tuple[type, type], type] = {}


def _hypha_counterpart(cls: type) -> type | None:
    """The class of Hypha's (when loaded) that means what ``cls`` means, else None."""
    hypha = sys.modules.get(_HYPHA_BASE_MODULE)
    if hypha is None:
        return None
    name = "SessionNotFoundError" if issubclass(cls, SessionNotFoundError) else "WorkerError"
    found = getattr(hypha, name, None)
    return found if isinstance(found, type) and issubclass(found, Exception) else None


def _with_hypha_base(cls: type) -> type:
    """``cls``, or a subclass of it that also derives from its Hypha counterpart."""
    counterpart = _hypha_counterpart(cls)
    if counterpart is None or issubclass(cls, counterpart):
        return cls
    key = (cls, counterpart)
    hybrid = _hybrids.get(key)
    if hybrid is None:
        hybrid = type(cls.__name__, (cls, counterpart), {
            "__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__,
        })
        _hybrids[key] = hybrid
    return hybrid


class WorkerError(Exception):
    """Any failure the worker reports to a caller (and, with Hypha loaded, Hypha's WorkerError)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "WorkerError":
        return super().__new__(_with_hypha_base(cls), *args)


class ConfigError(ValueError):
    """An operator's setting, flag, environment variable or installation is wrong or missing.

    The message names the setting and the rule; the CLI prints it in one line and exits 1."""


class SessionNotFoundError(WorkerError):
    """The session id is not live (and, for reads, not retained either). The message is the
    one Hypha's built-in browser worker gives, which Hypha's callers match on."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Browser session {session_id} not found")
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


def first_line(exc: BaseException, limit: int = 400) -> str:
    """An error as its first line (its ``message`` when it has one, as Playwright's errors do),
    cut at ``limit`` characters; the exception's type name when it says nothing."""
    text = str(getattr(exc, "message", None) or exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"
