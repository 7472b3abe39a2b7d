"""The asking replica at the door (issue 29): which Hypha replica's controller asked for a start
comes only from the server-stamped ``context["from"]`` of a root call (``public/<server-id>``);
nothing in a start config, and no other caller, can name it. The page gets it as
``asking_manager`` (``manager-<server-id>``) and registers its own services through that manager
too when the balancer sent it to another replica (templates/replica-follow.js)."""

from __future__ import annotations

from typing import Any

import pytest

from browser_worker._door import Role, caller_from, parse_start, reroute_start
from browser_worker._door.calls import Limits
from browser_worker._net.policy import NetworkPolicy
from browser_worker.errors import WorkerError

ROOT = {"id": "root", "is_anonymous": False, "roles": []}
#: Every field a tenant might add to a start config to steer the page's registrations.
FORGED = {
    "asking_manager": "manager-b", "asking_server": "b", "server_id": "b", "manager_id": "manager-b",
    "from": "public/b", "replica": "b", "context": {"from": "public/b", "user": ROOT},
}


def context(source: Any, user: dict[str, Any] | None = None, ws: str = "public") -> dict[str, Any]:
    return {"ws": ws, "from": source, "user": user or ROOT}


def config(**changes: Any) -> dict[str, Any]:
    return {"id": "ws-user-erin/page-1", "workspace": "ws-user-erin", "client_id": "page-1", "app_id": "a",
            "server_url": "http://127.0.0.1:9527", "source": "await api.export({})",
            "manifest": {"type": "window"}, **changes}


def start(raw: dict[str, Any], asking_server: str | None = None, workspace: str | None = None):
    return parse_start(raw, workspace=workspace, limits=Limits(), net=NetworkPolicy(allow_private=True),
                       asking_server=asking_server)


def test_a_root_call_from_a_servers_own_client_names_that_server() -> None:
    caller = caller_from(context("public/a"))
    assert caller.role is Role.ADMIN and caller.server_id == "a"
    assert caller_from(context("public/hypha-server-7f3c")).server_id == "hypha-server-7f3c"


@pytest.mark.parametrize("source", [
    "ws-user-erin/page-1",        # a root call from a client outside ``public``
    "public/",                    # no server id
    "public/a/b", "public/a b",   # not a server id
    "public/" + "x" * 200,        # too long
    None, 5, ["public/a"],        # not text
    "*/manager-a",                # a manager, not a server's client
])
def test_no_other_source_names_a_server(source: Any) -> None:
    assert caller_from(context(source)).server_id is None


@pytest.mark.parametrize("user", [
    {"id": "alice", "is_anonymous": False, "roles": ["admin"]},  # an admin user is not the server
    {"id": "mallory", "is_anonymous": False, "roles": []},       # a tenant
    {"id": "anonymouz-x", "is_anonymous": True, "roles": []},    # anonymous
])
def test_only_root_calls_name_a_server(user: dict[str, Any]) -> None:
    assert caller_from(context("public/a", user, ws="public")).server_id is None
    assert caller_from(context("public/a", user, ws="ws-user-mallory")).server_id is None


def test_the_page_gets_the_asking_managers_name_from_the_door_only() -> None:
    assert start(config(), asking_server="a").page_config["asking_manager"] == "manager-a"
    assert start(config()).page_config["asking_manager"] is None
    # Whatever a config says, with or without a server-stamped replica.
    assert start(config(**FORGED)).page_config["asking_manager"] is None
    forged_manifest = config(manifest={"type": "window", **FORGED})
    assert start(forged_manifest).page_config["asking_manager"] is None
    assert start(config(**FORGED), asking_server="a").page_config["asking_manager"] == "manager-a"
    tenant = start(config(**FORGED), workspace="ws-user-erin")
    assert tenant.asking_server is None and tenant.page_config["asking_manager"] is None


def test_the_page_registers_under_its_own_client_id() -> None:
    req = start(config(), asking_server="a")
    assert req.page_config["client_id"] == req.client_id == "page-1"
    with pytest.raises(WorkerError, match="client_id"):
        start(config(client_id="someone-else"), asking_server="a")  # must match the id's client part


def test_a_rerouted_start_keeps_the_asking_replica() -> None:
    raw = config(app_files_base_url="http://127.0.0.1:9527/ws-user-erin/artifacts/a/files",
                 entry_point="index.html", source=None)
    req = start(raw, asking_server="a")
    again = reroute_start(raw, req, "http://10.213.0.1:8080", "moved", limits=Limits(),
                          net=NetworkPolicy(allow_private=True))
    assert again.server_url == "http://10.213.0.1:8080"
    assert again.page_config["asking_manager"] == "manager-a"


def test_a_malformed_asking_server_is_refused_naming_it() -> None:
    with pytest.raises(WorkerError, match="asking server id"):
        start(config(), asking_server="a/b")
