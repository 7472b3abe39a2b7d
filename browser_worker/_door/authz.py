"""Who may call what: the one place the worker decides authorization.

Every service call carries the caller's hypha-rpc ``context`` (``ws``, ``user``). From it the
worker derives a :class:`Caller` and asks :func:`authorize` whether the method may act on the
workspace in question. The rules, as a table (docs/security.md, "Who may call what"):

================================ ===== ========== ========== ============ ==========
method                           local root/admin owner ws   other tenant anonymous
================================ ===== ========== ========== ============ ==========
start, compile                   any   any ws¹    own ws     own ws       no
stop, get_logs, get_session_info any   any        own ws     own ws       no
get_artifact                     any   any        own ws     own ws       no
execute, take_screenshot         any   any        own ws     own ws       no
print_pdf                        any   any        own ws     own ws       no
watch, stream_logs               any   any        own ws     own ws       no
list_sessions                    all   all        own ws     own ws       no
prepare/close_workspace          any   any        own ws     own ws       no
clear_app_cache, *_cache_stats   any   any        own ws     own ws       no
get_load                         yes   yes        yes        yes          yes
shutdown                         yes   yes        yes        no           no
================================ ===== ========== ========== ============ ==========

¹ Hypha's app controller calls workers as ``root`` from the ``public`` workspace, on behalf of
the user who installs or starts an app; it names that user's workspace in the config, which is
then the session's workspace. "local" is the in-process Python API (no ``context``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping, Literal

from browser_worker.errors import PermissionDeniedError, WorkerError

#: Workspace names and client ids: what Hypha generates (``ws-user-github|123``, ``abc_1-x``).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._|@-]{0,127}$")


class Role(str, Enum):
    LOCAL = "local"
    ADMIN = "admin"
    OWNER = "owner"
    TENANT = "tenant"
    ANONYMOUS = "anonymous"


#: Methods any identified caller may use on its own workspace.
WORKSPACE_METHODS = frozenset({
    "start", "compile", "stop", "get_logs", "get_artifact", "get_session_info", "execute", "take_screenshot",
    "print_pdf",
    "list_sessions", "prepare_workspace", "close_workspace", "clear_app_cache", "get_app_cache_stats",
    "watch", "stream_logs", "snapshot", "act", "take_control", "release_control",
    "grant_agent", "revoke_agent", "send_input", "list_downloads", "get_download",
})
#: Methods that concern the worker as a whole.
OPEN_METHODS = frozenset({"get_load"})
OWNER_METHODS = frozenset({"shutdown"})


Kind = Literal["person", "agent"]


@dataclass(frozen=True)
class Actor:
    """Who acts in a page: ``id`` says who it is (``user@workspace``, ``local``, or an agent
    grant); ``kind`` whether a person drives or an agent (control lease: ``_control``)."""

    id: str
    kind: Kind


@dataclass(frozen=True)
class Caller:
    role: Role
    workspace: str | None = None
    user_id: str | None = None
    #: The Hypha server (replica) whose own client made the call: set only for a ``root`` call
    #: from ``public/<server-id>`` (a server's app controller), read from the server-stamped
    #: ``context["from"]``; never from anything a caller passes.
    server_id: str | None = None

    @property
    def privileged(self) -> bool:
        return self.role in (Role.LOCAL, Role.ADMIN)

    def __str__(self) -> str:
        who = self.user_id or "anonymous"
        return f"{who} ({self.role.value}{', workspace ' + self.workspace if self.workspace else ''})"


def caller_from(context: Mapping[str, Any] | None, owner_workspace: str | None = None) -> Caller:
    """The caller a hypha-rpc ``context`` describes; ``None`` is the local Python API."""
    if context is None:
        return Caller(Role.LOCAL)
    if not isinstance(context, Mapping):
        return Caller(Role.ANONYMOUS)
    user = context.get("user")
    user = user if isinstance(user, Mapping) else {}
    user_id = user.get("id") if isinstance(user.get("id"), str) else None
    workspace = context.get("ws") if isinstance(context.get("ws"), str) else None
    roles = user.get("roles") if isinstance(user.get("roles"), (list, tuple)) else ()
    if user_id == "root" or "admin" in roles:
        return Caller(Role.ADMIN, workspace, user_id, _server_of(context.get("from")) if user_id == "root" else None)
    anonymous = bool(user.get("is_anonymous")) or not user_id or user_id.startswith("anonymouz-")
    if anonymous or not workspace:
        return Caller(Role.ANONYMOUS, workspace, user_id)
    if owner_workspace and workspace == owner_workspace:
        return Caller(Role.OWNER, workspace, user_id)
    return Caller(Role.TENANT, workspace, user_id)


def _server_of(source: Any) -> str | None:
    """``<server-id>`` of a ``public/<server-id>`` caller (how a Hypha server's own clients are
    named), or None for anything else."""
    if not isinstance(source, str) or not source.startswith("public/"):
        return None
    server_id = source[len("public/"):]
    return server_id if NAME_PATTERN.match(server_id) else None


def check_name(value: Any, field: str) -> str:
    """A workspace or client id: a short string of letters, digits and ``._|@-``."""
    if not isinstance(value, str):
        raise WorkerError(f"{field} must be a string, got {type(value).__name__}")
    if not NAME_PATTERN.match(value):
        raise WorkerError(
            f"{field} {value[:80]!r} is malformed (rule: 1-128 characters of letters, digits and "
            "._|@-, starting with a letter, digit or _)"
        )
    return value


def authorize(method: str, caller: Caller, workspace: str | None = None) -> str | None:
    """Allow ``method`` for ``caller`` on ``workspace`` (None: the caller's own), or raise.

    Returns the workspace the call acts on: for a non-privileged caller always its own."""
    if method in OPEN_METHODS:
        return workspace
    if caller.role is Role.ANONYMOUS:
        raise PermissionDeniedError(
            f"Permission denied: {method} needs a signed-in caller (anonymous callers may only call get_load)"
        )
    if method in OWNER_METHODS:
        if caller.privileged or caller.role is Role.OWNER:
            return workspace
        raise PermissionDeniedError(
            f"Permission denied: {method} is for the worker's owner workspace or an admin, not {caller}"
        )
    if method not in WORKSPACE_METHODS:
        raise PermissionDeniedError(f"Permission denied: unknown method {method}")
    if caller.privileged:
        return workspace
    if workspace is not None and workspace != caller.workspace:
        raise PermissionDeniedError(
            f"Permission denied: {caller} cannot {method} in workspace {str(workspace)[:80]}"
        )
    return caller.workspace
