"""Issue 6, acceptance 6: a caller from workspace B cannot touch sessions of workspace A."""

from __future__ import annotations

from typing import Any

import pytest
from hypha_rpc import connect_to_server
from hypha_rpc.rpc import RemoteException

from browser_worker import BrowserWorker

from ._support import web_app_config

pytestmark = pytest.mark.e2e

#: Our worker's refusal as a remote caller sees it: the error class, then bob named as the caller.
DENIED = r"browser_worker\.errors\.PermissionDeniedError: Permission denied: bob \(tenant, workspace ws-user-bob\) cannot "


async def test_other_workspace_is_refused(
    hypha_server: Any, alice: Any, served: Any, worker: BrowserWorker
) -> None:
    bob_token = await hypha_server.user_token("bob")
    bob = await connect_to_server({"server_url": hypha_server.url, "token": bob_token})
    try:
        service_id = next(
            s["id"] for s in await alice.list_services({"type": "server-app-worker"})
            if s["id"].endswith(":browser-worker")
        )
        as_alice = await alice.get_service(service_id)
        as_bob = await bob.get_service(service_id)  # visibility public: bob can reach the worker

        sid = await as_alice.start(web_app_config("data:text/html,<title>alice</title><p>secret</p>"))
        assert sid.startswith("ws-user-alice/")
        assert await as_alice.execute(sid, "document.title") == "alice"
        assert (await as_alice.get_logs(sid))["total"] > 0

        attempts = {
            "execute": lambda: as_bob.execute(sid, "document.body.textContent"),
            "get_logs": lambda: as_bob.get_logs(sid),
            "take_screenshot": lambda: as_bob.take_screenshot(sid),
            "get_session_info": lambda: as_bob.get_session_info(sid),
            "stop": lambda: as_bob.stop(sid),
        }
        for name, call in attempts.items():
            with pytest.raises(RemoteException, match=rf"{DENIED}{name} in workspace ws-user-alice$") as err:
                await call()
            assert "secret" not in str(err.value), name

        with pytest.raises(RemoteException, match=rf"{DENIED}list_sessions in workspace ws-user-alice$"):
            await as_bob.list_sessions("ws-user-alice")
        assert sid not in [s["id"] for s in await as_bob.list_sessions()]
        assert sid in [s["id"] for s in await as_alice.list_sessions("ws-user-alice")]
        with pytest.raises(RemoteException, match=rf"{DENIED}close_workspace in workspace ws-user-alice$"):
            await as_bob.close_workspace("ws-user-alice")
        assert (sid in worker.stats().active)  # nothing bob did reached it
        await as_alice.stop(sid)
        assert not (sid in worker.stats().active)
    finally:
        await bob.disconnect()


async def test_cannot_start_in_another_workspace(hypha_server: Any, alice: Any, served: Any) -> None:
    bob = await connect_to_server({"server_url": hypha_server.url, "token": await hypha_server.user_token("bob")})
    try:
        service_id = next(
            s["id"] for s in await alice.list_services({"type": "server-app-worker"})
            if s["id"].endswith(":browser-worker")
        )
        as_bob = await bob.get_service(service_id)
        with pytest.raises(RemoteException, match=r"browser_worker\.errors\.PermissionDeniedError: Permission denied: "
                                                  r"workspace 'ws-user-alice' is not the caller's workspace 'ws-user-bob'"):
            await as_bob.start(web_app_config("data:text/html,<p>x</p>"))
    finally:
        await bob.disconnect()
