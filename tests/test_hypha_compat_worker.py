"""Issue 12, acceptance 1 (continued): the scenarios of Hypha 0.21.137's ``tests/test_worker.py``
on our worker (registration, selection by type, concurrency, errors, lifecycle), through a real
Hypha server and real Chromium. ``test_hypha_compat.py`` has those of ``test_server_apps.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypha_rpc.rpc import RemoteException

from browser_worker import BrowserWorker
from browser_worker.testing import internals

from ._support import our_workers, wait_for

pytestmark = pytest.mark.e2e

# ----- test_worker.py -----------------------------------------------------------------------

RANDOM_ID_APP = """
api.export({
    async setup() { console.log("Concurrent test app initialized"); },
    async get_id() { return Math.random().toString(36).slice(2) + Date.now(); },
    async get_workspace() { return api.config.workspace; },
});
"""


async def test_worker_service_definition_registers_like_hypha(alice: Any, worker: BrowserWorker) -> None:
    """test_browser_worker_service_registration and _session_lifecycle: the dict from
    ``get_worker_service()`` registers as is; unknown sessions say "not found"; compile works."""
    definition = worker.get_worker_service()
    definition["id"] = "compat-browser-worker"
    definition["config"] = {**definition["config"], "visibility": "public"}
    info = await alice.register_service(definition)
    try:
        assert definition["type"] == "server-app-worker" and info["type"] == definition["type"]
        remote = await alice.get_service("compat-browser-worker")
        for method in ("start", "stop", "get_logs", "compile", "execute", "take_screenshot", "list_sessions"):
            assert callable(getattr(remote, method, None)), method
        for app_type in ("web-python", "web-worker", "window", "iframe", "hypha", "web-app"):
            assert app_type in worker.supported_types
            assert app_type in remote.supported_types
        assert "Browser Worker" in worker.name and worker.description
        assert worker.service_id == "browser-worker" and worker.require_context is True
        assert worker.visibility == "public" and worker.run_in_executor is False

        not_found = r"browser_worker\.errors\.SessionNotFoundError: Browser session ws-user-alice/non-existent-session not found"
        with pytest.raises(RemoteException, match=not_found):
            await remote.get_logs("ws-user-alice/non-existent-session")
        with pytest.raises(RemoteException, match=not_found):
            await remote.take_screenshot("ws-user-alice/non-existent-session")
        assert await remote.stop("ws-user-alice/non-existent-session") is None  # quiet, as the Worker API says

        progress: list[dict[str, Any]] = []
        manifest, files = await remote.compile(
            {"type": "web-python", "name": "Test Web Python App", "entry_point": "main.py"},
            [{"path": "main.py", "content": "print('Hello from web python')", "format": "text"}],
            {"progress_callback": progress.append},
        )
        assert manifest["type"] == "web-python" and manifest["entry_point"] == "index.html"
        paths = [f["path"] for f in files]
        assert "index.html" in paths and "main.py" in paths
    finally:
        await alice.unregister_service(info["id"])


async def test_window_app_from_plain_script_via_get_app(apps: Any, alice: Any) -> None:
    """test_browser_worker_integration (test_worker.py): a plain JS source with a window manifest."""
    source = """
    api.log('Browser worker test app started');
    api.export({
        async setup() { console.log("Browser worker app initialized"); },
        async test_function() { return "Browser worker test successful"; },
    });
    """
    app = await apps.install(source=source, manifest={"type": "window", "name": "Browser Worker Test"},
                             wait_for_service="default", timeout=60, overwrite=True)
    try:
        session = await apps.start(app["id"])
        remote_app = await alice.get_app(session["id"])
        assert "test_function" in remote_app
        assert await remote_app.test_function() == "Browser worker test successful"
        await apps.stop(session["id"])
    finally:
        await apps.uninstall(app["id"])


async def test_worker_selection_by_type(apps: Any, worker: BrowserWorker) -> None:
    """test_worker_selection_by_type: our worker is listed for each browser type and compiles
    what is installed with that type."""
    ours = await our_workers(apps)
    assert len(ours) == 1
    for app_type in ("window", "web-worker", "web-python"):
        assert app_type in ours[0]["supported_types"]
    compiled = {}
    for app_type in ("window", "web-worker"):
        app = await apps.install(
            source=f"<html><body><script>console.log('{app_type} app test');</script></body></html>",
            manifest={"type": app_type, "name": f"Test {app_type} App", "version": "1.0.0"},
            wait_for_service=False, timeout=60, overwrite=True,
        )
        compiled[app_type] = app.get("compiled") or {}
        await apps.uninstall(app["id"])
    # ``compiled`` is what our compile step adds to the manifest: our worker was chosen (an HTML
    # page is kept as the app's own, with its assets inlined).
    assert {t: c.get("template") for t, c in compiled.items()} == {
        t: "none (the app's own HTML, assets inlined)" for t in ("window", "web-worker")}, compiled


async def test_concurrent_sessions_are_independent(apps: Any, alice: Any, worker: BrowserWorker) -> None:
    """test_worker_concurrent_sessions, with the three starts really at the same time."""
    installed = [
        await apps.install(source=RANDOM_ID_APP, manifest={"type": "window", "name": f"Concurrent Test App {i}"},
                           wait_for_service="default", timeout=60, overwrite=True)
        for i in range(3)
    ]
    try:
        sessions = await asyncio.gather(*(apps.start(a["id"], wait_for_service="default", timeout=60) for a in installed))
        sids = [s["id"] for s in sessions]
        assert len(set(sids)) == 3 and all((s in worker.stats().active) for s in sids)
        ids = [await (await alice.get_app(s)).get_id() for s in sids]
        assert len(set(ids)) == 3, ids
        pages = {id(internals(worker).sessions.active(s).lease.context) for s in sids}
        assert len(pages) == 3  # one browser context each
        await asyncio.gather(*(apps.stop(s) for s in sids))
        assert not any((s in worker.stats().active) for s in sids)
    finally:
        for a in installed:
            await apps.uninstall(a["id"])


async def test_error_handling_names_the_cause(apps: Any, worker: BrowserWorker) -> None:
    """test_worker_error_handling: unknown types, bad JS and slow apps are refused, saying why;
    a start that fails at run time (no install check: ``stage=True``) names the app's error."""
    def our_sessions() -> set[str]:
        return {s.id for s in [*internals(worker).sessions.active_sessions(), *internals(worker).sessions.ended_sessions()]}

    # The server refuses a type no worker of it lists; ours does not list it, and never saw the app.
    before = our_sessions()
    with pytest.raises(RemoteException, match="No server app worker found for app type: nonexistent-type"):
        await apps.install(source="console.log('test');", manifest={"type": "nonexistent-type", "name": "Invalid"},
                           timeout=30, overwrite=True)
    assert "nonexistent-type" not in worker.supported_types and our_sessions() == before

    with pytest.raises(RemoteException, match="app failed while booting: SyntaxError: Unexpected identifier 'is'"):
        await apps.install(source="this is not valid javascript syntax\napi.export({});",
                           manifest={"type": "window", "name": "Compat Bad App"}, timeout=30, overwrite=True)

    # The server gives up after its own 2 s wait for the service; our session for the app had
    # loaded (its log lines are in the server's error), and the server's stop ended it.
    before = our_sessions()
    with pytest.raises(RemoteException, match="startup timed out") as slow:
        await apps.install(source="setTimeout(() => api.export({}), 10000);",
                           manifest={"type": "window", "name": "Compat Slow App"}, timeout=2, overwrite=True)
    (slow_id,) = [s for s in our_sessions() - before if (internals(worker).sessions.any(s).metadata or {}).get("name") == "Compat Slow App"]
    await wait_for(lambda: not (slow_id in worker.stats().active))
    texts = internals(worker).sessions.any(slow_id).logs.texts()
    assert texts[0] in str(slow.value) and texts[0].startswith("Starting window app "), texts
    assert texts[-2:] == ["Session stopping", "Session stopped"], texts
    assert (await worker.get_session_info(slow_id))["status"] == "stopped"

    staged = await apps.install(source="throw new Error('database handle missing');",
                                manifest={"type": "window", "name": "Compat Failing Start"}, stage=True, overwrite=True)
    try:
        with pytest.raises(RemoteException, match="app failed while booting: database handle missing"):
            await apps.start(staged["id"], stage=True, wait_for_service="default", timeout=30)
    finally:
        await apps.uninstall(staged["id"])


async def test_lifecycle_install_start_logs_stop_uninstall(apps: Any, alice: Any, served: Any, worker: BrowserWorker) -> None:
    """test_worker_lifecycle_management, plus list_sessions/get_session_info on the worker."""
    source = """
    api.export({
        async setup() { console.log("Lifecycle test app started"); },
        async get_status() { return "running"; },
    });
    """
    app = await apps.install(source=source, manifest={"type": "window", "name": "Lifecycle Test App"}, overwrite=True)
    try:
        # Installed through our compile: the bundle is kept for alice's starts.
        assert internals(worker).entries.get("ws-user-alice", app["content_hash"]) is not None
        session = await apps.start(app["id"], wait_for_service="default", timeout=60)
        sid = session["id"]
        assert (sid in worker.stats().active)
        assert await (await alice.get_app(sid)).get_status() == "running"

        remote = await alice.get_service((await our_workers(apps))[0]["id"])
        listed = {s["id"]: s for s in await remote.list_sessions()}
        assert listed[sid]["status"] == "running" and listed[sid]["app_type"] == "window"
        info = await remote.get_session_info(sid)
        assert info["workspace"] == "ws-user-alice" and info["app_id"] == app["id"]

        logs = await apps.get_logs(sid)
        # Exactly what our worker holds for the session: its own three start lines, then
        # (or interleaved with) the page's console lines, the app's own line last.
        assert logs["total"] == len(logs["items"]) == len(internals(worker).sessions.active(sid).logs)
        ours = [i["content"] for i in logs["items"] if i["source"] == "worker"]
        assert ours[:2] == [f"Starting window app {app['id']} ({sid})", "Browser context ready; loading the app"], ours
        assert len(ours) == 3 and ours[2].startswith("App loaded in "), ours
        console = await apps.get_logs(sid, type="console", limit=1)
        wanted = [i for i in logs["items"] if i["type"] == "console"]
        assert wanted[-1]["content"] == "[log] Lifecycle test app started", wanted
        assert len(wanted) + len(ours) == logs["total"]  # no other kind of entry
        assert console["total"] == len(wanted) and console["items"] == wanted[:1]
        await apps.stop(sid)
        assert not (sid in worker.stats().active)
        assert sid not in [s["id"] for s in await remote.list_sessions()]
        assert (await remote.get_session_info(sid))["status"] == "stopped"
        assert internals(worker).sessions.any(sid).logs.texts()[-2:] == ["Session stopping", "Session stopped"]
    finally:
        await apps.uninstall(app["id"])


async def test_lifecycle_console_logs(apps: Any) -> None:
    """test_worker_lifecycle_management, step 4: ``type == "console"`` items exist."""
    source = 'api.export({ async setup() { console.log("Lifecycle test app started"); } });'
    app = await apps.install(source=source, manifest={"type": "window", "name": "Lifecycle Logs App"}, overwrite=True)
    try:
        session = await apps.start(app["id"], wait_for_service="default", timeout=60)
        logs = await apps.get_logs(session["id"])
        console = [i for i in logs["items"] if i["type"] == "console"]
        assert "[log] Lifecycle test app started" in [i["content"] for i in console], logs
        await apps.stop(session["id"])
    finally:
        await apps.uninstall(app["id"])
