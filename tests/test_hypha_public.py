"""Issue 12: ``browser-worker serve --public`` serves every workspace of a server, as Hypha's
built-in browser worker does; and workspace isolation between two users (the scenario of Hypha's
``test_worker_workspace_isolation``), which needs a worker both users' apps can use.

A Hypha server of its own, started with a root token (given through ``--from-env`` and
``HYPHA_ROOT_TOKEN``, so it is not on a command line) and with its built-in browser worker off;
the worker runs as ``python -m browser_worker serve --public`` with only the root token.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from hypha_rpc import connect_to_server
from hypha_rpc.rpc import RemoteException

from browser_worker.testing.hypha_server import LocalHyphaServer

from ._support import read_until

pytestmark = pytest.mark.e2e

WORKSPACE_APP = """
api.export({
    async setup() { console.log("Workspace isolation test app started"); },
    async get_workspace() { return api.config.workspace; },
});
"""


@pytest_asyncio.fixture(scope="module")
async def root_server() -> AsyncIterator[tuple[LocalHyphaServer, str]]:
    root_token = secrets.token_urlsafe(32)
    server = LocalHyphaServer(extra_args=["--from-env"], extra_env={"HYPHA_ROOT_TOKEN": root_token})
    async with server:
        yield server, root_token


@pytest_asyncio.fixture(scope="module")
async def public_worker(root_server: tuple[LocalHyphaServer, str]) -> AsyncIterator[dict[str, Any]]:
    """``serve --public`` given nothing but the server URL and its root token."""
    server, root_token = root_server
    env = {k: v for k, v in os.environ.items() if k not in ("HYPHA_TOKEN", "HYPHA_WORKSPACE")}
    env.update({"HYPHA_SERVER_URL": server.url, "HYPHA_ROOT_TOKEN": root_token,
                "BROWSER_WORKER_POOL_SIZE": "1", "BROWSER_WORKER_PYTHON_POOL_SIZE": "0"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "browser_worker", "serve", "--public",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )
    state: dict[str, Any] = {"proc": proc, "root_token": root_token}
    try:
        state["output"] = await read_until(proc.stdout, "Ctrl-C to stop", 90)  # type: ignore[arg-type]
        yield state
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            state["output"] = state.get("output", "") + (await asyncio.wait_for(proc.stdout.read(), 30)).decode(errors="replace")  # type: ignore[union-attr]
            await asyncio.wait_for(proc.wait(), 30)


async def _client(server: LocalHyphaServer, user: str) -> Any:
    return await connect_to_server({"server_url": server.url, "token": await server.user_token(user)})


async def test_serve_public_worker_runs_a_users_apps(root_server: tuple[LocalHyphaServer, str],
                                                     public_worker: dict[str, Any]) -> None:
    server, root_token = root_server
    out = public_worker["output"]
    assert f"registered on {server.url} in workspace public" in out, out
    assert root_token not in out
    carol = await _client(server, "carol")
    try:
        apps = await carol.get_service("public/server-apps")
        workers = [w for w in await apps.list_workers() if w["id"].endswith(":browser-worker")]
        assert len(workers) == 1 and workers[0]["id"].startswith("public/"), workers
        assert "window" in workers[0]["supported_types"]
        app = await apps.install(source=WORKSPACE_APP, manifest={"type": "window", "name": "Public Worker App"},
                                 wait_for_service="default", timeout=60, overwrite=True)
        try:
            session = await apps.start(app["id"], wait_for_service="default", timeout=60)
            assert session["worker_id"] == workers[0]["id"]
            assert await (await carol.get_app(session["id"])).get_workspace() == "ws-user-carol"
            await apps.stop(session["id"])
        finally:
            await apps.uninstall(app["id"])
    finally:
        await carol.disconnect()


async def test_workspace_isolation(root_server: tuple[LocalHyphaServer, str], public_worker: dict[str, Any]) -> None:
    """test_worker_workspace_isolation: each user's app runs in its own workspace, each sees only
    its own sessions; bob can neither stop nor read alice's, through the controller or the worker."""
    server, _ = root_server
    alice, bob = await _client(server, "alice"), await _client(server, "bob")
    try:
        apps_a, apps_b = await alice.get_service("public/server-apps"), await bob.get_service("public/server-apps")
        app_a = await apps_a.install(source=WORKSPACE_APP, manifest={"type": "window", "name": "Workspace 1 App"},
                                     wait_for_service="default", timeout=60, overwrite=True)
        app_b = await apps_b.install(source=WORKSPACE_APP, manifest={"type": "window", "name": "Workspace 2 App"},
                                     wait_for_service="default", timeout=60, overwrite=True)
        s_a = await apps_a.start(app_a["id"], wait_for_service="default", timeout=60)
        s_b = await apps_b.start(app_b["id"], wait_for_service="default", timeout=60)
        try:
            assert await (await alice.get_app(s_a["id"])).get_workspace() == "ws-user-alice"
            assert await (await bob.get_app(s_b["id"])).get_workspace() == "ws-user-bob"
            running_a = [s["id"] for s in await apps_a.list_running()]
            running_b = [s["id"] for s in await apps_b.list_running()]
            assert s_a["id"] in running_a and s_b["id"] not in running_a
            assert s_b["id"] in running_b and s_a["id"] not in running_b

            # The controller refuses first (the worker would, too: see the calls below).
            with pytest.raises(RemoteException, match="PermissionError: User bob does not have permission to stop "
                                                "session in workspace ws-user-alice"):
                await apps_b.stop(s_a["id"])
            worker_for_bob = await bob.get_service(s_b["worker_id"])
            assert [s["id"] for s in await worker_for_bob.list_sessions()] == [s_b["id"]]
            for method, call in (("stop", worker_for_bob.stop(s_a["id"])), ("get_logs", worker_for_bob.get_logs(s_a["id"])),
                                 ("execute", worker_for_bob.execute(s_a["id"], "document.title")),
                                 ("list_sessions", worker_for_bob.list_sessions("ws-user-alice"))):
                with pytest.raises(RemoteException, match=r"browser_worker\.errors\.PermissionDeniedError: Permission denied: "
                                                          rf"bob \(tenant, workspace ws-user-bob\) cannot {method} in workspace ws-user-alice"):
                    await call
            assert await (await alice.get_app(s_a["id"])).get_workspace() == "ws-user-alice"  # still running
        finally:
            await apps_a.stop(s_a["id"], raise_exception=False)
            await apps_b.stop(s_b["id"], raise_exception=False)
            await apps_a.uninstall(app_a["id"])
            await apps_b.uninstall(app_b["id"])
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_serve_public_with_a_minted_token(root_server: tuple[LocalHyphaServer, str]) -> None:
    """The other documented path: root mints a ``public`` token; ``serve --public`` uses it."""
    server, root_token = root_server
    root = await connect_to_server({"server_url": server.url, "token": root_token})
    try:
        minted = await root.generate_token({"workspace": "public", "permission": "read_write", "expires_in": 3600})
    finally:
        await root.disconnect()
    env = {k: v for k, v in os.environ.items() if k not in ("HYPHA_ROOT_TOKEN", "HYPHA_WORKSPACE")}
    env.update({"HYPHA_SERVER_URL": server.url, "HYPHA_TOKEN": minted, "BROWSER_WORKER_SERVICE_ID": "minted-worker",
                "BROWSER_WORKER_POOL_SIZE": "1", "BROWSER_WORKER_PYTHON_POOL_SIZE": "0"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "browser_worker", "serve", "--public",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )
    try:
        out = await read_until(proc.stdout, "Ctrl-C to stop", 90)  # type: ignore[arg-type]
        assert "in workspace public" in out and minted not in out, out
        dave = await _client(server, "dave")
        try:
            apps = await dave.get_service("public/server-apps")
            assert any(w["id"].startswith("public/") and w["id"].endswith(":minted-worker")
                       for w in await apps.list_workers())
        finally:
            await dave.disconnect()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.stdout.read(), 30)  # type: ignore[union-attr]
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_serve_public_refuses_without_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("HYPHA_ROOT_TOKEN", "HYPHA_TOKEN", "HYPHA_WORKSPACE")}
    env["HYPHA_SERVER_URL"] = "http://127.0.0.1:9"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "browser_worker", "serve", "--public",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "HYPHA_ROOT_TOKEN" in err.decode() and "serve --help" in err.decode()
