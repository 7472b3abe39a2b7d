"""The authorization table of ``_door/authz.py``, without a server: who a hypha-rpc ``context``
says the caller is (``caller_from``), and what each kind of caller may do (``authorize``)."""

from __future__ import annotations

from typing import Any

import pytest

from browser_worker._door.authz import (
    OPEN_METHODS,
    OWNER_METHODS,
    WORKSPACE_METHODS,
    Caller,
    Role,
    authorize,
    caller_from,
    check_name,
)
from browser_worker.errors import PermissionDeniedError, WorkerError

OWNER_WS = "ws-user-owner"


def ctx(user: Any = None, ws: Any = "ws-user-alice") -> dict[str, Any]:
    return {"ws": ws, "user": user}


# ----- caller_from -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (None, Caller(Role.LOCAL)),  # the in-process Python API
        ("not a mapping", Caller(Role.ANONYMOUS)),
        (["ws", "user"], Caller(Role.ANONYMOUS)),
        (ctx({"id": "root"}, "public"), Caller(Role.ADMIN, "public", "root")),
        (ctx({"id": "carol", "roles": ["admin"]}), Caller(Role.ADMIN, "ws-user-alice", "carol")),
        (ctx({"id": "carol", "roles": ("user", "admin")}), Caller(Role.ADMIN, "ws-user-alice", "carol")),
        # roles must be a list: the string "admin" is not the role admin
        (ctx({"id": "carol", "roles": "admin"}), Caller(Role.TENANT, "ws-user-alice", "carol")),
        (ctx({"id": "carol", "roles": "xadminx"}), Caller(Role.TENANT, "ws-user-alice", "carol")),
        (ctx({"id": "owner"}, OWNER_WS), Caller(Role.OWNER, OWNER_WS, "owner")),
        (ctx({"id": "alice"}), Caller(Role.TENANT, "ws-user-alice", "alice")),
        (ctx({"id": "alice", "is_anonymous": True}), Caller(Role.ANONYMOUS, "ws-user-alice", "alice")),
        (ctx({"id": "anonymouz-abc"}), Caller(Role.ANONYMOUS, "ws-user-alice", "anonymouz-abc")),
        (ctx({"id": ""}), Caller(Role.ANONYMOUS, "ws-user-alice", "")),
        (ctx({"id": 42}), Caller(Role.ANONYMOUS, "ws-user-alice", None)),
        (ctx({}), Caller(Role.ANONYMOUS, "ws-user-alice", None)),
        (ctx("alice"), Caller(Role.ANONYMOUS, "ws-user-alice", None)),  # user not a mapping
        (ctx({"id": "alice"}, None), Caller(Role.ANONYMOUS, None, "alice")),  # no workspace
        (ctx({"id": "alice"}, 5), Caller(Role.ANONYMOUS, None, "alice")),  # workspace not a string
        # an anonymous user of the owner workspace is still anonymous
        (ctx({"id": "anonymouz-x"}, OWNER_WS), Caller(Role.ANONYMOUS, OWNER_WS, "anonymouz-x")),
    ],
)
def test_caller_from_context(context: Any, expected: Caller) -> None:
    assert caller_from(context, owner_workspace=OWNER_WS) == expected


def test_without_an_owner_workspace_nobody_is_owner() -> None:
    assert caller_from(ctx({"id": "owner"}, OWNER_WS)) == Caller(Role.TENANT, OWNER_WS, "owner")
    assert caller_from(ctx({"id": "owner"}, OWNER_WS), owner_workspace="") == Caller(Role.TENANT, OWNER_WS, "owner")


def test_privileged_is_local_and_admin_only() -> None:
    assert [r for r in Role if Caller(r).privileged] == [Role.LOCAL, Role.ADMIN]


# ----- authorize -------------------------------------------------------------------------------

LOCAL = Caller(Role.LOCAL)
ADMIN = Caller(Role.ADMIN, "public", "root")
OWNER = Caller(Role.OWNER, OWNER_WS, "owner")
TENANT = Caller(Role.TENANT, "ws-user-bob", "bob")
ANONYMOUS = Caller(Role.ANONYMOUS, "ws-user-bob", "anonymouz-1")

SIGNED_IN = "needs a signed-in caller (anonymous callers may only call get_load)"


def test_the_method_sets_are_the_documented_table() -> None:
    assert WORKSPACE_METHODS == {
        "start", "compile", "stop", "get_logs", "get_session_info", "execute", "take_screenshot", "print_pdf",
        "list_sessions", "prepare_workspace", "close_workspace", "clear_app_cache", "get_app_cache_stats",
        "watch", "stream_logs", "get_artifact", "snapshot", "act", "take_control", "release_control",
        "grant_agent", "revoke_agent", "send_input", "list_downloads", "get_download"}
    assert OPEN_METHODS == {"get_load"} and OWNER_METHODS == {"shutdown"}


@pytest.mark.parametrize("method", sorted(WORKSPACE_METHODS))
def test_workspace_methods(method: str) -> None:
    # Local and admin act on any workspace they name, or none (all).
    for caller in (LOCAL, ADMIN):
        assert authorize(method, caller, "ws-user-anyone") == "ws-user-anyone"
        assert authorize(method, caller, None) is None
    # Owner and tenant: their own workspace, named or implied, and no other.
    for caller in (OWNER, TENANT):
        assert authorize(method, caller, None) == caller.workspace
        assert authorize(method, caller, caller.workspace) == caller.workspace
        for other in ("ws-user-alice", "public", ""):
            with pytest.raises(PermissionDeniedError) as denied:
                authorize(method, caller, other)
            assert str(denied.value) == f"Permission denied: {caller} cannot {method} in workspace {other}"
    for workspace in (None, ANONYMOUS.workspace, "ws-user-alice"):
        with pytest.raises(PermissionDeniedError, match=f"^Permission denied: {method} {SIGNED_IN.replace('(', '[(]').replace(')', '[)]')}$"):
            authorize(method, ANONYMOUS, workspace)


def test_get_load_is_open_to_everyone() -> None:
    for caller in (LOCAL, ADMIN, OWNER, TENANT, ANONYMOUS):
        assert authorize("get_load", caller) is None
        assert authorize("get_load", caller, "ws-x") == "ws-x"


def test_shutdown_is_for_the_owner_and_admins() -> None:
    for caller in (LOCAL, ADMIN, OWNER):
        assert authorize("shutdown", caller) is None
    with pytest.raises(PermissionDeniedError) as denied:
        authorize("shutdown", TENANT)
    assert str(denied.value) == (
        "Permission denied: shutdown is for the worker's owner workspace or an admin, "
        "not bob (tenant, workspace ws-user-bob)")
    with pytest.raises(PermissionDeniedError, match="shutdown needs a signed-in caller"):
        authorize("shutdown", ANONYMOUS)


def test_unknown_methods_are_refused_even_to_admins() -> None:
    for caller in (LOCAL, ADMIN, OWNER, TENANT):
        with pytest.raises(PermissionDeniedError, match="^Permission denied: unknown method eval$"):
            authorize("eval", caller)
    with pytest.raises(PermissionDeniedError, match="eval needs a signed-in caller"):
        authorize("eval", ANONYMOUS)


def test_a_long_foreign_workspace_name_is_cut_in_the_message() -> None:
    with pytest.raises(PermissionDeniedError) as denied:
        authorize("stop", TENANT, "w" * 500)
    assert str(denied.value).endswith("in workspace " + "w" * 80)


def test_from_context_to_decision() -> None:
    """The two together, as the service does for each call."""
    alice = caller_from(ctx({"id": "alice"}), owner_workspace=OWNER_WS)
    assert authorize("list_sessions", alice) == "ws-user-alice"
    with pytest.raises(PermissionDeniedError):
        authorize("stop", alice, OWNER_WS)
    root = caller_from(ctx({"id": "root"}, "public"), owner_workspace=OWNER_WS)
    assert authorize("start", root, "ws-user-alice") == "ws-user-alice"  # on behalf of a user
    anon = caller_from(ctx({"id": "anonymouz-1", "is_anonymous": True}), owner_workspace=OWNER_WS)
    assert authorize("get_load", anon) is None
    with pytest.raises(PermissionDeniedError):
        authorize("list_sessions", anon)


# ----- names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ws-user-alice", "ws-user-github|123", "abc_1-x", "_x", "a.b@c", "a" * 128])
def test_good_names(name: str) -> None:
    assert check_name(name, "workspace") == name


@pytest.mark.parametrize("name", ["", "-x", ".x", "a/b", "a b", "a\nb", "a" * 129, "ws:svc", "é"])
def test_bad_names(name: str) -> None:
    with pytest.raises(WorkerError, match=r"^workspace .* is malformed \(rule: 1-128 characters"):
        check_name(name, "workspace")


def test_names_must_be_strings() -> None:
    with pytest.raises(WorkerError, match="^client_id must be a string, got int$"):
        check_name(5, "client_id")
