"""Issue 10: each attack a hostile tenant (bob) or an anonymous caller tried, and its defence.

The worker is registered in alice's workspace (the ``served`` fixture); bob and an anonymous
client reach it through the same real Hypha server, as any tenant could.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from hypha_rpc import connect_to_server
from hypha_rpc.rpc import RemoteException

from browser_worker import BrowserWorker
from browser_worker.metrics import serve_metrics
from browser_worker.testing import internals

from ._support import settle, web_app_config

pytestmark = pytest.mark.e2e

#: Our worker's errors as a remote caller sees them: the class, then the message.
DENIED = r"browser_worker\.errors\.PermissionDeniedError: Permission denied: "
REFUSED = r"browser_worker\.errors\.WorkerError: "
BOB_CANNOT = DENIED + r"bob \(tenant, workspace ws-user-bob\) cannot "

ALICE_APP = """<config lang="json">{"name": "Alice", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
api.export({ setup() {}, whoami() { return "alice-code"; } });
</script>
"""


async def worker_as(client: Any, alice: Any) -> Any:
    service_id = next(
        s["id"] for s in await alice.list_services({"type": "server-app-worker"})
        if s["id"].endswith(":browser-worker")
    )
    return await client.get_service(service_id)


@pytest_asyncio.fixture(autouse=True)
async def back_to_baseline(worker: BrowserWorker) -> AsyncIterator[None]:
    """Every attack ends with the shared worker as it was: no session, no slot held, and only
    the warm contexts, counted by Chromium itself."""
    yield
    await settle(worker)


@pytest_asyncio.fixture(scope="module")
async def bob(hypha_server: Any) -> AsyncIterator[Any]:
    client = await connect_to_server({"server_url": hypha_server.url, "token": await hypha_server.user_token("bob")})
    yield client
    await client.disconnect()


@pytest_asyncio.fixture(scope="module")
async def anonymous(hypha_server: Any) -> AsyncIterator[Any]:
    client = await connect_to_server({"server_url": hypha_server.url})
    yield client
    await client.disconnect()


def alice_window(hypha_server: Any, token: str | None, script: str, client_id: str | None = None) -> dict[str, Any]:
    client_id = client_id or f"sec-{uuid.uuid4().hex[:8]}"
    return {
        "id": f"ws-user-alice/{client_id}", "workspace": "ws-user-alice", "client_id": client_id,
        "app_id": "sec", "server_url": hypha_server.url, "token": token, "source": script,
        "manifest": {"type": "window", "name": "sec"},
    }


async def test_poisoned_bundle_never_runs_in_alices_session(
    apps: Any, alice: Any, bob: Any, served: Any, worker: BrowserWorker
) -> None:
    app = await apps.install(source=ALICE_APP, overwrite=True, timeout=60)
    alice_hash = (await apps.get_app_info(app["id"]))["manifest"]["content_hash"]
    assert alice_hash.startswith("sha256:")
    evil = ('<!doctype html><html><head><meta name="browser-worker-bundle" content="window"></head><body>'
            '<script>window.__BW__ && window.__BW__.fail(new Error("bob-code-ran"));</script></body></html>')
    manifest = {"type": "window", "name": "Alice", "entry_point": "index.html", "content_hash": alice_hash}
    files = [{"path": "index.html", "content": evil, "format": "text"}]

    as_bob = await worker_as(bob, alice)
    with pytest.raises(RemoteException, match=BOB_CANNOT + "compile in workspace ws-user-alice"):
        await as_bob.compile(manifest, files, {"workspace": "ws-user-alice"})
    # Even a privileged compile of the same trick cannot plant bytes under alice's hash.
    await worker.compile(manifest, files, {"workspace": "ws-user-alice"})

    session = await apps.start(app["id"], wait_for_service="default", timeout=60)
    try:
        svc = await alice.get_service(session["id"] + ":default")
        assert await svc.whoami() == "alice-code"
    finally:
        await apps.stop(session["id"])


@pytest.mark.parametrize("field", ["server_url", "app_files_base_url"])
async def test_file_pages_are_refused(hypha_server: Any, alice: Any, bob: Any, served: Any,
                                      worker: BrowserWorker, field: str) -> None:
    as_bob = await worker_as(bob, alice)
    client_id = f"f-{uuid.uuid4().hex[:8]}"
    cfg = {
        "id": f"ws-user-bob/{client_id}", "workspace": "ws-user-bob", "client_id": client_id,
        "app_id": "x", "server_url": hypha_server.url, "entry_point": "index.html",
        "manifest": {"type": "window", "entry_point": "index.html"}, "source": "1",
    }
    cfg[field] = "file:///etc/passwd#"
    before = worker.get_load()
    with pytest.raises(RemoteException, match=rf"{REFUSED}{field}: scheme file: is not allowed \(rule: pages load only from"):
        await as_bob.start(cfg)
    assert worker.get_load() == before
    assert not (f"ws-user-bob/{client_id}" in worker.stats().active)


async def test_shutdown_is_refused_to_other_tenants_and_anonymous(
    alice: Any, bob: Any, anonymous: Any, served: Any, worker: BrowserWorker
) -> None:
    for client in (bob, anonymous):
        remote = await worker_as(client, alice)
        with pytest.raises(RemoteException, match=DENIED + ("shutdown is for the worker's owner workspace" if client is bob
                                                             else "shutdown needs a signed-in caller")):
            await remote.shutdown()
    assert not worker.shutdown_requested.is_set()
    owner = await worker_as(alice, alice)  # the worker is registered in alice's workspace
    await owner.shutdown()
    assert worker.shutdown_requested.is_set()
    worker.shutdown_requested.clear()


async def test_anonymous_callers_may_only_read_the_load(
    alice: Any, anonymous: Any, served: Any, worker: BrowserWorker
) -> None:
    remote = await worker_as(anonymous, alice)
    assert isinstance(await remote.get_load(), (int, float))
    calls = {
        "compile": lambda: remote.compile({"type": "window"}, [{"path": "index.html", "content": "1"}],
                                          {"inline_remote": True}),
        "start": lambda: remote.start(web_app_config("data:text/html,<p>x</p>")),
        "list_sessions": lambda: remote.list_sessions(),
        "close_workspace": lambda: remote.close_workspace("ws-user-alice"),
    }
    for name, call in calls.items():
        with pytest.raises(RemoteException, match=rf"{DENIED}{name} needs a signed-in caller"):
            await call()


async def test_session_ids_are_bound_to_their_workspace(
    hypha_server: Any, alice: Any, bob: Any, served: Any, worker: BrowserWorker, alice_token: str
) -> None:
    as_alice, as_bob = await worker_as(alice, alice), await worker_as(bob, alice)
    # Alice's ended session keeps its logs under its id.
    cfg = web_app_config("data:text/html,<title>a</title>")
    sid = await as_alice.start(cfg)
    await as_alice.stop(sid)
    kept = (await as_alice.get_logs(sid))["total"]
    assert kept > 0

    taken = f"ws-user-alice/{cfg['client_id']}"
    squat = {**web_app_config("data:text/html,<title>b</title>"), "id": taken, "workspace": "ws-user-bob",
             "client_id": cfg["client_id"]}
    with pytest.raises(RemoteException, match=rf"{REFUSED}id '{taken}' names workspace 'ws-user-alice', not the "
                                              r"session's workspace 'ws-user-bob'"):
        await as_bob.start(squat)
    squat["workspace"] = None
    with pytest.raises(RemoteException, match=r"browser_worker\.errors\.PermissionDeniedError: Permission denied: "
                                              r"workspace 'ws-user-alice' is not the caller's workspace 'ws-user-bob'"):
        await as_bob.start(squat)
    for bad, why in (("no-slash", "id 'no-slash' is malformed"), ("", "id '' is malformed"),
                     ("ws-user-bob/", "client_id '' is malformed"), ("ws-user-bob/a b", "client_id 'a b' is malformed")):
        with pytest.raises(RemoteException, match=REFUSED + why):
            await as_bob.start({**web_app_config("data:text/html,x"), "id": bad, "workspace": None, "client_id": None})
    with pytest.raises(RemoteException, match=BOB_CANNOT + "get_logs in workspace ws-user-alice"):
        await as_bob.get_logs(taken)
    with pytest.raises(RemoteException, match=BOB_CANNOT + "stop in workspace ws-user-alice"):
        await as_bob.stop(taken)
    assert (await as_alice.get_logs(sid))["total"] == kept  # nothing of alice's was replaced
    assert all(s.workspace for s in internals(worker).sessions.active_sessions())


async def test_token_planted_in_a_boot_error_never_leaves_the_worker(
    hypha_server: Any, alice: Any, served: Any, worker: BrowserWorker, alice_token: str
) -> None:
    runner = await serve_metrics(worker.metrics, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    progress: list[str] = []
    cfg = alice_window(hypha_server, alice_token,
                       "console.log('token is', window.__BW__.config.token);\n"
                       "throw new Error('boot failed with ' + window.__BW__.config.token);")
    cfg["progress_callback"] = lambda msg: progress.append(str(msg))
    as_alice = await worker_as(alice, alice)
    try:
        with pytest.raises(RemoteException, match=r"browser_worker\.errors\.AppStartError: .*boot failed with") as err:
            await as_alice.start(cfg)
        info = await as_alice.get_session_info(cfg["id"])
        logs = await as_alice.get_logs(cfg["id"])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                metrics = await resp.text()
            async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                health = await resp.text()
        await asyncio.sleep(0.2)
        places = {"start error": str(err.value), "session info": str(info), "logs": str(logs),
                  "progress": "\n".join(progress), "metrics": metrics, "health": health}
        assert progress and info["status"] == "failed" and "boot failed with" in info["error"]
        for place, text in places.items():
            assert alice_token not in text, place
    finally:
        await runner.cleanup()


async def test_server_side_fetches_never_reach_internal_addresses(
    hypha_server: Any, alice: Any, bob: Any, served: Any, worker: BrowserWorker
) -> None:
    runner = await serve_metrics(worker.metrics, "127.0.0.1", 0)
    metrics_url = f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
    as_bob = await worker_as(bob, alice)
    try:
        page = f'<!doctype html><html><head><link rel="stylesheet" href="{metrics_url}"></head><body>x</body></html>'
        with pytest.raises(RemoteException, match=rf"{REFUSED}.*resolves to 127\.0\.0\.1 \(loopback\).*--allow-private-network"):
            await as_bob.compile({"type": "iframe", "entry_point": "index.html"},
                                 [{"path": "index.html", "content": page}], {"inline_remote": True})
        client_id = f"ssrf-{uuid.uuid4().hex[:8]}"
        with pytest.raises(RemoteException, match=r"browser_worker\.errors\.AppStartError: could not fetch the app's entry "
                                                  r"file 'metrics': app_files_base_url: .*127\.0\.0\.1 \(loopback\)"
                                                  r".*--allow-private-network"):
            await as_bob.start({
                "id": f"ws-user-bob/{client_id}", "app_id": "x", "server_url": hypha_server.url,
                "app_files_base_url": metrics_url.rsplit("/", 1)[0], "entry_point": "metrics",
                "manifest": {"type": "window", "entry_point": "metrics"},
            })
        assert not (f"ws-user-bob/{client_id}" in worker.stats().active)
    finally:
        await runner.cleanup()
